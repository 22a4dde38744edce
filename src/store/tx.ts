import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { flushWal, type Db } from './db.ts';

/** A Kysely handle bound to one open write transaction. */
export type Trx = Kysely<Database>;

/**
 * Runs `fn` in one write transaction that takes the write lock at BEGIN (SQLite's BEGIN IMMEDIATE).
 * Several worker processes share the file: a deferred transaction that reads and then writes
 * (the event chain reads the last hash) would fail with SQLITE_BUSY instead of waiting its turn.
 * Inside `fn`, use only the handle it is given, never `db` (one connection: that would wait forever).
 *
 * durable: this commit is on disk before the promise resolves, whatever the store's synchronous
 * setting (NORMAL in WAL mode, see db.ts): the write-ahead log, which holds this commit and every
 * earlier one, is flushed right after the commit, once the write lock is released, so the other
 * processes do not wait for the disk. For the send claim, which must survive a power loss.
 *
 * PostgreSQL via DATABASE_URL would use a plain BEGIN with SELECT ... FOR UPDATE on the chain head.
 */
export async function writeTx<T>(db: Db, fn: (trx: Trx) => Promise<T>, opts: { durable?: boolean } = {}): Promise<T> {
  const result = await db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const value = await fn(conn);
      await sql`commit`.execute(conn);
      return value;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
  if (opts.durable) flushWal(db);
  return result;
}

/** Now, as the store keeps every timestamp: UTC ISO 8601. */
export function nowIso(): string {
  return new Date().toISOString();
}
