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
 * earlier one, is flushed after the commit, once the write lock is released, so the other
 * processes do not wait for the disk; durable commits of the same turn of the event loop share
 * that flush (flushWalShared). For the send claim, which must survive a power loss.
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
  if (opts.durable) await flushWalShared(db);
  return result;
}

/** Per store, the flush scheduled for the commits made in this turn of the event loop. */
const pendingFlush = new WeakMap<Db, Promise<void>>();

/**
 * Group commit: durable commits made in the same turn of the event loop (a send worker claims
 * for several jobs at once) share one flush of the log, which holds them all, instead of one
 * fsync each; each still resolves only after a flush that began after its commit.
 */
function flushWalShared(db: Db): Promise<void> {
  let flush = pendingFlush.get(db);
  if (!flush) {
    flush = new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        pendingFlush.delete(db);
        flushWal(db).then(() => resolve(), reject);
      });
    });
    pendingFlush.set(db, flush);
  }
  return flush;
}

/** Now, as the store keeps every timestamp: UTC ISO 8601. */
export function nowIso(): string {
  return new Date().toISOString();
}
