import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import { migrations } from './migrations.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

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
 * Opens the store (SQLite file by default) and brings its schema up to date.
 * The queries elsewhere use Kysely's portable builder so PostgreSQL can follow via DATABASE_URL.
 */
export async function openDb(file: string): Promise<Db> {
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
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

async function migrate(db: Db): Promise<void> {
  // Unordered: a store that already ran a later-numbered migration still takes an earlier one added since.
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider(), allowUnorderedMigrations: true });
  // Two processes opening a new store at once (a worker and the CLI): the migration transaction
  // starts deferred, and SQLite answers a lock upgrade it cannot grant with SQLITE_BUSY at once,
  // without the busy timeout. The loser waits and tries again; by then the schema is usually there.
  for (let attempt = 1; ; attempt++) {
    const { error } = await migrator.migrateToLatest();
    if (!error) return;
    const busy = (error as { code?: string }).code === 'SQLITE_BUSY' || /database is locked/.test(String(error));
    if (!busy || attempt >= 50) throw error;
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
  }
}
