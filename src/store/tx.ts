import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { closeChain, markChain, openChain, rewindChain, type ChainHead, type OpenChain } from './chain.ts';
import { engineOf, flushWal, type Db } from './db.ts';
import { eventsInsertSql, writeEvents } from './events.ts';

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
 * shared: this transaction may be committed together with others asked for in the same turn of
 * the event loop (sharedTx): each still all or nothing, by a savepoint of its own. For the send
 * steps, many small transactions from concurrent jobs.
 *
 * PostgreSQL (DATABASE_URL): BEGIN, then a transaction-level advisory lock (beginWrite), so
 * writers in every process take turns as on SQLite and the audit chain stays one line; durable
 * is a no-op there, as every PostgreSQL commit is flushed before it returns.
 */
export async function writeTx<T>(db: Db, fn: (trx: Trx) => Promise<T>, opts: { durable?: boolean; shared?: boolean } = {}): Promise<T> {
  const result = opts.shared ? await sharedTx(db, fn) : await ownTx(db, fn);
  if (opts.durable) await flushWalShared(db);
  return result;
}

/** Key of the advisory lock every PostgreSQL write transaction holds: one writer at a time, as SQLite. */
export const PG_WRITE_LOCK = 4_208_170_002;

/**
 * Starts a write transaction holding the store's write lock: SQLite's BEGIN IMMEDIATE; on
 * PostgreSQL BEGIN, then chancery_write_lock() (migration 0007), which takes the transaction-level
 * advisory lock (released by COMMIT or ROLLBACK) and, in a statement of its own after the grant,
 * reads the chain's head: the head comes back with the lock, in one round trip. Read committed:
 * each statement after the lock sees every commit made before it was granted.
 */
async function beginWrite(conn: Trx): Promise<OpenChain['head']> {
  if (engineOf(conn) === 'sqlite') {
    await sql`begin immediate`.execute(conn);
    return 'unread';
  }
  await sql`begin`.execute(conn);
  const { rows } = await sql<ChainHead>`select id, hash from chancery_write_lock(${sql.lit(PG_WRITE_LOCK)})`.execute(conn);
  return rows[0];
}

/**
 * Writes the transaction's pending events and commits. PostgreSQL: the INSERT and the COMMIT go
 * as one SQL text (simple query protocol), so the lock is let go one round trip after the last
 * step rather than two.
 */
async function commitWrite(conn: Trx, chain: OpenChain): Promise<void> {
  if (engineOf(conn) === 'postgres' && chain.pending.length > 0) {
    await sql.raw(`${eventsInsertSql(chain.pending)}; commit`).execute(conn);
    return;
  }
  await writeEvents(conn, chain.pending);
  await sql`commit`.execute(conn);
}

/** One BEGIN IMMEDIATE ... COMMIT around `fn`; rolled back if it throws. */
function ownTx<T>(db: Db, fn: (trx: Trx, chain: OpenChain) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    const chain = openChain(conn, await beginWrite(conn));
    try {
      const value = await fn(conn, chain);
      await commitWrite(conn, chain);
      return value;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    } finally {
      closeChain(conn);
    }
  });
}

type SharedWork = { fn: (trx: Trx) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

/** Per store, the transactions waiting to be run together at the end of this turn. */
const sharedQueue = new WeakMap<Db, SharedWork[]>();

/**
 * Runs `fn` in a write transaction shared with the other `shared` transactions asked for in the
 * same turn of the event loop: one BEGIN IMMEDIATE ... COMMIT, each `fn` inside a savepoint of
 * its own, so one that throws is rolled back alone and rejects alone. Each resolves after the
 * common commit. Why: every commit costs a write lock, a write of each page it changed to the
 * log (the chain's head page and the index pages are the same for every letter) and, in every
 * other process, a cold page cache; concurrent send jobs commit two small transactions a letter.
 */
function sharedTx<T>(db: Db, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let queue = sharedQueue.get(db);
    if (!queue) {
      const work: SharedWork[] = (queue = []);
      sharedQueue.set(db, work);
      setImmediate(() => {
        sharedQueue.delete(db);
        void runShared(db, work);
      });
    }
    queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
  });
}

async function runShared(db: Db, work: SharedWork[]): Promise<void> {
  const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
  try {
    await ownTx(db, async (conn, chain) => {
      await sql`savepoint shared_tx`.execute(conn);
      for (const [i, w] of work.entries()) {
        const mark = markChain(chain);
        try {
          outcomes.push({ ok: true, value: await w.fn(conn) });
        } catch (error) {
          outcomes.push({ ok: false, error });
          await sql`rollback to shared_tx`.execute(conn);
          rewindChain(chain, mark);
        }
        await nextSavepoint(conn, i + 1 < work.length);
      }
    });
  } catch (err) {
    // BEGIN, a savepoint or COMMIT failed: nothing of the group was written.
    for (const w of work) w.reject(err);
    return;
  }
  work.forEach((w, i) => {
    const o = outcomes[i]!;
    if (o.ok) w.resolve(o.value);
    else w.reject(o.error);
  });
}

/** Releases the savepoint of one shared transaction and, if another follows, takes its own: in one round trip on PostgreSQL. */
async function nextSavepoint(conn: Trx, another: boolean): Promise<void> {
  if (engineOf(conn) === 'postgres') {
    await sql.raw(another ? 'release shared_tx; savepoint shared_tx' : 'release shared_tx').execute(conn);
    return;
  }
  await sql`release shared_tx`.execute(conn);
  if (another) await sql`savepoint shared_tx`.execute(conn);
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
