import { defineConfig } from 'vitest/config';

/**
 * The fault tests that run on both engines (test/helpers/engines.ts); the others use SQLite.
 * crash.test.ts passes on PostgreSQL (put it here to run it) but is not in CI's run yet: on a
 * loaded machine its workers restarted too slowly for a kill to land mid-send (its own strength
 * check) and it took ~7 minutes; see issue 17's note.
 */
const BOTH_ENGINES: string[] = [];
/** PostgreSQL only (its server restarted under the workers). */
const POSTGRES_ONLY = ['test/faults/postgres.test.ts'];

/**
 * The fault suite (`npm run test:faults`): workers killed, Redis and SMTP down, the store
 * interrupted. Long-running, so kept out of `npx vitest run`; files run one at a time since
 * each one loads both cores. Writes test-artifacts/faults-report.json.
 */
export default defineConfig({
  test: {
    testTimeout: 480_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/faults/**/*.test.ts'], exclude: POSTGRES_ONLY } },
      { extends: true, test: { name: 'postgres', include: [...BOTH_ENGINES, ...POSTGRES_ONLY], env: { CHANCERY_TEST_ENGINE: 'postgres' }, setupFiles: ['test/helpers/postgres-setup.ts'] } },
    ],
  },
});
