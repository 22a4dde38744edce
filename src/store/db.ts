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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  sqliteHandles.set(db, sqlite);
  await migrate(db);
  return db;
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
