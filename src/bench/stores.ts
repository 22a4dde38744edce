/**
 * The stores `chancery bench --store` measures on. SQLite: a fresh file in each run's temporary
 * home. PostgreSQL: a fresh database per run, on the server of DATABASE_URL when given (its role
 * must be allowed to create databases; each is dropped at the end), else on a private cluster the
 * bench starts and stops itself (./local-postgres.ts). Fresh, because runs of different sizes in
 * one database would share one registry, and a campaign to 'all' would reach every earlier run's.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
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
  const created: string[] = [];
  /** Runs one statement on the maintenance database of DATABASE_URL's server, as its role. */
  const onServer = async (text: string) => {
    const url = new URL(databaseUrl!);
    url.pathname = '/postgres';
    const client = new pg.Client({ connectionString: url.toString() });
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  return {
    names,
    async location(store) {
      if (store === 'sqlite') return undefined;
      if (!databaseUrl) return cluster!.createDatabase();
      const name = `chancery_bench_${randomBytes(6).toString('hex')}`;
      await onServer(`create database ${name}`);
      created.push(name);
      const url = new URL(databaseUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async stop() {
      for (const name of created) await onServer(`drop database if exists ${name}`).catch((err: unknown) => log(`postgres: could not drop ${name}: ${String(err)}`));
      await cluster?.stop();
    },
  };
}
