/**
 * The stores `chancery bench --store` measures on. SQLite: a fresh file in each run's temporary
 * home. PostgreSQL: the database of DATABASE_URL when given (every run adds to it), else a private
 * cluster the bench starts and stops itself (./local-postgres.ts), a fresh database per run.
 */
import { startLocalPostgres, type LocalPostgres } from './local-postgres.ts';

export const BENCH_STORES = ['sqlite', 'postgres'] as const;
export type BenchStore = (typeof BENCH_STORES)[number];

export type BenchStores = {
  names: BenchStore[];
  /** The DATABASE_URL of a fresh run on `store`; undefined for SQLite (the run's own file). */
  location(store: BenchStore): Promise<string | undefined>;
  stop(): Promise<void>;
};

export async function openBenchStores(names: BenchStore[], databaseUrl: string | undefined, log: (line: string) => void): Promise<BenchStores> {
  let cluster: LocalPostgres | undefined;
  if (names.includes('postgres') && !databaseUrl) {
    log('postgres: starting a private cluster (initdb in a temporary folder)');
    cluster = await startLocalPostgres();
  }
  return {
    names,
    async location(store) {
      if (store === 'sqlite') return undefined;
      return databaseUrl ?? cluster!.createDatabase();
    },
    async stop() {
      await cluster?.stop();
    },
  };
}
