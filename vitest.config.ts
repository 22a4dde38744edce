import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault suite is long: npm run test:faults (vitest.faults.config.ts).
    exclude: ['test/faults/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own redis-server and SMTP server per file; two cores.
    maxWorkers: 2,
  },
});
