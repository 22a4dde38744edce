import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { Db } from './db.ts';

/** A Kysely handle bound to one open write transaction. */
export type Trx = Kysely<Database>;

/**
 * Runs `fn` in one write transaction that takes the write lock at BEGIN (SQLite's BEGIN IMMEDIATE).
 * Several worker processes share the file: a deferred transaction that reads and then writes
 * (the event chain reads the last hash) would fail with SQLITE_BUSY instead of waiting its turn.
 * Inside `fn`, use only the handle it is given, never `db` (one connection: that would wait forever).
 * PostgreSQL via DATABASE_URL would use a plain BEGIN with SELECT ... FOR UPDATE on the chain head.
 */
export async function writeTx<T>(db: Db, fn: (trx: Trx) => Promise<T>, opts: { durable?: boolean } = {}): Promise<T> {
  return db.connection().execute(async (conn) => {
    // durable (bench helper): this commit is flushed to disk before it returns, whatever the
    // store's synchronous setting (NORMAL in WAL mode, see db.ts); flushing the WAL also makes
    // every earlier commit durable. For the send claim, which must survive a power loss.
    let previous: number | undefined;
    if (opts.durable) {
      previous = (await sql<{ synchronous: number }>`pragma synchronous`.execute(conn)).rows[0]?.synchronous;
      if (previous !== undefined && previous < 2) await sql`pragma synchronous = FULL`.execute(conn);
      else previous = undefined;
    }
    try {
      await sql`begin immediate`.execute(conn);
      try {
        const result = await fn(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (err) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw err;
      }
    } finally {
      if (previous !== undefined) await sql.raw(`pragma synchronous = ${previous}`).execute(conn);
    }
  });
}

/** Now, as the store keeps every timestamp: UTC ISO 8601. */
export function nowIso(): string {
  return new Date().toISOString();
}
