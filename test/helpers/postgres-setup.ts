import { afterAll, beforeAll } from 'vitest';
import { filePostgres, stopFilePostgres } from './engines.ts';

// Setup file of the postgres project (vitest.config.ts): each test file's cluster is started
// before its own hooks run (initdb and start take seconds on a busy machine, kept out of their
// time budget) and stopped after it.
beforeAll(async () => {
  await filePostgres();
}, 120_000);
afterAll(stopFilePostgres, 60_000);
