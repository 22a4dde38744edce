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
  // WAL lets the CLI read while workers write; a busy timeout rather than SQLITE_BUSY errors.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 10000');
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
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}
