import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresAdapter, SqliteDialect, sql, type Migration, type MigrationProvider } from 'kysely';
import { isPostgresUrl, type Config } from '../config.ts';
import { InfrastructureError } from '../errors.ts';
import { migrationsFor } from './migrations.ts';
import { postgresDialect, postgresOpenError } from './postgres.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

/** The two engines behind the one store layer: SQLite (embedded default) and PostgreSQL (DATABASE_URL). */
export type Engine = 'sqlite' | 'postgres';

/** The engine a store (or a transaction or connection of it) runs on. */
export function engineOf(db: Kysely<any>): Engine {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/** Where the configured store is: DATABASE_URL when set, else the SQLite file under CHANCERY_HOME. */
export function storeLocation(cfg: Config): string {
  return cfg.DATABASE_URL ?? cfg.paths.db;
}

/** Opens the configured store: every command, worker and the web console come through here. */
export function openStore(cfg: Config): Promise<Db> {
  return openDb(storeLocation(cfg));
}

/** The columns of a table in their order (SQLite's table_info, PostgreSQL's information_schema). */
export async function tableColumns(db: Kysely<any>, table: string): Promise<string[]> {
  if (engineOf(db) === 'postgres') {
    const r = await sql<{ name: string }>`select column_name as name from information_schema.columns where table_schema = current_schema() and table_name = ${table} order by ordinal_position`.execute(db);
    return r.rows.map((c) => c.name);
  }
  return (await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(db)).rows.map((c) => c.name);
}

/** The better-sqlite3 handle behind each open store, for bulk work Kysely would slow down (audit bench). */
const sqliteHandles = new WeakMap<Db, SQLite.Database>();

/** The raw SQLite connection of a store opened with openDb (the same single connection Kysely uses). */
export function sqliteHandle(db: Db): SQLite.Database {
  const handle = sqliteHandles.get(db);
  if (!handle) throw new Error('sqliteHandle: this store was not opened with openDb');
  return handle;
}

/** One descriptor per store on its write-ahead log, opened on first use, closed with the store. */
const walFds = new WeakMap<SQLite.Database, number>();

/**
 * Flushes the store's write-ahead log to disk (fsync) and resolves true; false when the store has
 * none (in memory). Every commit is appended to the log in order, so after this every commit made
 * so far is durable; a checkpoint flushes the log before copying it into the main file, and the
 * main file before the log is reused (SQLite's WAL rules under synchronous = NORMAL). The log
 * stays the same file while a connection (ours) is open: SQLite removes it only when the last
 * connection closes. The flush runs on libuv's thread pool, so the caller's thread goes on while
 * the disk works (a send worker's thread spent about a tenth of its time blocked in a synchronous
 * flush); one call serves a whole group of commits (store/tx.ts), so the pool's cost is paid once
 * per group.
 */
export async function flushWal(db: Db): Promise<boolean> {
  const fd = walFd(db);
  if (fd === undefined) return false;
  if (fd !== null) await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
  return true;
}

/**
 * The kept descriptor of the store's write-ahead log; null when there is no log (never written,
 * or checkpointed and removed: the commits are in the main file, flushed here); undefined for a
 * store with no file (in memory).
 */
function walFd(db: Db): number | null | undefined {
  const handle = sqliteHandles.get(db);
  if (!handle || handle.memory || handle.name === '' || handle.name === ':memory:') return undefined;
  let fd = walFds.get(handle);
  if (fd === undefined) {
    try {
      fd = fs.openSync(`${handle.name}-wal`, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const main = fs.openSync(handle.name, 'r');
      try {
        fs.fsyncSync(main);
      } finally {
        fs.closeSync(main);
      }
      return null;
    }
    walFds.set(handle, fd);
  }
  return fd;
}

/** Closes the descriptor flushWal kept, when the connection closes. */
function forgetWal(handle: SQLite.Database): void {
  const fd = walFds.get(handle);
  if (fd === undefined) return;
  walFds.delete(handle);
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Opens the store at `location` and brings its schema up to date: a postgres:// or postgresql://
 * URL opens PostgreSQL, anything else is a SQLite file. The queries elsewhere use Kysely's
 * portable builder; what differs between the engines is in this folder (engineOf).
 */
export async function openDb(location: string): Promise<Db> {
  return isPostgresUrl(location) ? openPostgres(location) : openSqlite(location);
}

async function openPostgres(url: string): Promise<Db> {
  const { dialect } = postgresDialect(url);
  const db = new Kysely<Database>({ dialect });
  try {
    await migrate(db);
  } catch (err) {
    await db.destroy();
    throw postgresOpenError(err, url) ?? err;
  }
  return db;
}

async function openSqlite(file: string): Promise<Db> {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  // First, so that switching to WAL (an exclusive lock) waits for a process opening it at the same time.
  sqlite.pragma('busy_timeout = 10000');
  // WAL lets the CLI read while workers write; a busy timeout rather than SQLITE_BUSY errors.
  sqlite.pragma('journal_mode = WAL');
  // NORMAL in WAL mode (bench helper): commits reach the WAL without a flush each; the WAL is
  // flushed at checkpoints. A crashed process loses nothing; a power loss may lose the last
  // commits but never corrupts the file. The send claim is committed with writeTx(..., { durable:
  // true }), flushed before the message leaves, so exactly-once holds across a power loss too.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  sqliteHandles.set(db, sqlite);
  await migrate(db);
  return db;
}

/**
 * The handle Kysely is given: the same connection, with prepared statements kept by SQL text.
 * Kysely's SQLite driver prepares every query afresh; the worker steps run the same few dozen
 * statements for every dispatch, so re-preparing them was a good share of each job's CPU
 * (performance helper). Safe on one connection: Kysely runs one query at a time on it, SQLite
 * re-prepares a kept statement itself after a schema change, and a statement still busy (a
 * stream not read to the end) is never handed out again: a fresh one is prepared instead.
 */
function withStatementCache(sqlite: SQLite.Database, max = 256): SQLite.Database {
  const kept = new Map<string, SQLite.Statement>();
  const prepare = (source: string): SQLite.Statement => {
    const hit = kept.get(source);
    if (hit && !hit.busy) return hit;
    const stmt = sqlite.prepare(source);
    if (!hit) {
      if (kept.size >= max) kept.delete(kept.keys().next().value!);
      kept.set(source, stmt);
    }
    return stmt;
  };
  return new Proxy(sqlite, {
    get(target, prop) {
      if (prop === 'prepare') return prepare;
      if (prop === 'close') {
        return () => {
          forgetWal(target);
          kept.clear();
          return target.close();
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly engine: Engine) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrationsFor(this.engine);
  }
}

/** Session-level advisory lock key that serialises migrations of one PostgreSQL database across processes. */
const PG_MIGRATION_LOCK = 4_208_170_001;

/**
 * Brings the schema up to date (first use of a store, and `chancery store migrate`). A store that has run a migration this code does not
 * know (written by a newer Chancery) is refused, exit 3, with both versions named: running on it
 * could misread or damage what the newer code wrote.
 */
export async function migrate(db: Db): Promise<void> {
  const engine = engineOf(db);
  if (engine === 'sqlite') await migrateSqlite(db);
  else {
    // Two processes migrating a fresh database at once: the second waits for the first's whole
    // run (Kysely's own lock covers only the migrations, not the creation of its tables).
    await db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(${sql.lit(PG_MIGRATION_LOCK)})`.execute(conn);
      try {
        await runMigrator(db);
      } finally {
        await sql`select pg_advisory_unlock(${sql.lit(PG_MIGRATION_LOCK)})`.execute(conn);
      }
    });
  }
}

/** The migrations the store has run, in name order. */
export async function appliedMigrations(db: Db): Promise<string[]> {
  const rows = await (db as Kysely<any>).selectFrom('kysely_migration').select('name').orderBy('name').execute();
  return rows.map((r) => r.name as string);
}

/** The latest migration this code knows: the schema version it writes. */
export const CODE_SCHEMA_VERSION = Object.keys(migrationsFor('sqlite')).sort().at(-1)!;

async function runMigrator(db: Db): Promise<void> {
  // Unordered: a store that already ran a later-numbered migration still takes an earlier one added since.
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider(engineOf(db)), allowUnorderedMigrations: true });
  const { error } = await migrator.migrateToLatest();
  if (error) throw await newerSchemaError(db, error);
}

/** A missing-migration refusal from Kysely said in the user's terms; any other error as it is. */
async function newerSchemaError(db: Db, error: unknown): Promise<unknown> {
  if (!/previously executed migration .* is missing/.test(String(error))) return error;
  const known = new Set(Object.keys(migrationsFor('sqlite')));
  const unknown = (await appliedMigrations(db)).filter((n) => !known.has(n));
  return new InfrastructureError(
    `the store's schema is newer than this Chancery: it has migration ${unknown.join(', ')}; this version knows up to ${CODE_SCHEMA_VERSION}. Upgrade Chancery to use this store`,
  );
}

async function migrateSqlite(db: Db): Promise<void> {
  // Two processes opening a new store at once (a worker and the CLI): the migration transaction
  // starts deferred, and SQLite answers a lock upgrade it cannot grant with SQLITE_BUSY at once,
  // without the busy timeout. The loser waits and tries again; by then the schema is usually there.
  for (let attempt = 1; ; attempt++) {
    const error = await runMigrator(db).then(() => undefined, (err: unknown) => err);
    if (!error) return;
    const busy = (error as { code?: string }).code === 'SQLITE_BUSY' || /database is locked/.test(String(error));
    if (!busy || attempt >= 50) throw error;
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
  }
}
