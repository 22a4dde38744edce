import { defineConfig } from 'vitest/config';

/** The tests that exercise the store run on both engines (test/helpers/engines.ts). */
const BOTH_ENGINES = [
  'test/registry.test.ts',
  'test/dispatch.test.ts',
  'test/dispatch-race.test.ts',
  'test/deadlines.test.ts',
  'test/audit.test.ts',
  'test/audit-dispatch.test.ts',
  'test/web-security.test.ts',
  'test/web-e2e.test.ts',
  'test/template-sources.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own redis-server and SMTP server per file; two cores.
    maxWorkers: 2,
    projects: [
      // The fault suite is long: npm run test:faults (vitest.faults.config.ts).
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: ['test/faults/**', 'node_modules/**'] } },
      { extends: true, test: { name: 'postgres', include: BOTH_ENGINES, env: { CHANCERY_TEST_ENGINE: 'postgres' }, setupFiles: ['test/helpers/postgres-setup.ts'] } },
    ],
  },
});
