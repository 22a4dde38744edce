// The private cluster the tests use is the one `chancery bench` starts: one copy, in src/bench.
export { postgresBinDir, startLocalPostgres as startPostgres, type LocalPostgres as TestPostgres } from '../../src/bench/local-postgres.ts';
