import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): workers killed, Redis and SMTP down, the store
 * interrupted. Long-running, so kept out of `npx vitest run`; files run one at a time since
 * each one loads both cores. Writes test-artifacts/faults-report.json.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 480_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
