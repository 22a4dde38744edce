import { afterAll } from 'vitest';
import { stopFilePostgres } from './engines.ts';

// Setup file of the postgres project (vitest.config.ts): each test file's cluster stops after it.
afterAll(stopFilePostgres, 60_000);
