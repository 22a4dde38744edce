import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyChain } from '../src/audit/verify.ts';
import { openDb, type Db } from '../src/store/db.ts';
import { appendEvent } from '../src/store/events.ts';
import { nowIso, writeTx } from '../src/store/tx.ts';

/**
 * Durable commits (the send claim) are flushed to disk before they resolve; commits made in the
 * same turn of the event loop share one flush of the write-ahead log (group commit), and shared
 * transactions (the send steps) one transaction. The real fsync runs; the spy only records when.
 */

let db: Db | undefined;
let home: string | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await db?.destroy();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

const event = (i: number) => (trx: Parameters<Parameters<typeof writeTx>[1]>[0]) =>
  appendEvent(trx, { type: 'test.durable', campaignId: null, actor: 'test', at: nowIso(), data: { i } });

describe('durable commits', () => {
  it('five claims in one turn share one flush, each resolving after it; a later one gets its own', async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-durable-'));
    db = await openDb(path.join(home, 'chancery.db'));
    const store = db;
    await writeTx(store, event(0)); // the log exists before the spy starts counting
    const order: string[] = [];
    // The flush runs on libuv's thread pool (fs.fsync); the spy notes when it starts and ends.
    const realFsync = fs.fsync.bind(fs);
    const fsync = vi.spyOn(fs, 'fsync').mockImplementation(((fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
      order.push('flush');
      realFsync(fd, (err) => {
        order.push('flushed');
        callback(err);
      });
    }) as typeof fs.fsync);

    await Promise.all([1, 2, 3, 4, 5].map((i) => writeTx(store, event(i), { durable: true }).then(() => order.push(`resolved ${i}`))));
    expect(order).toEqual(['flush', 'flushed', 'resolved 1', 'resolved 2', 'resolved 3', 'resolved 4', 'resolved 5']);
    expect(fsync).toHaveBeenCalledTimes(1);

    await writeTx(store, event(6), { durable: true });
    expect(fsync).toHaveBeenCalledTimes(2);
    const rows = await store.selectFrom('events').select('data').where('type', '=', 'test.durable').orderBy('id').execute();
    expect(rows.map((r) => JSON.parse(r.data).i)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect((await verifyChain(store)).ok).toBe(true);
  });

  it('a commit that is not durable flushes nothing', async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-durable-'));
    db = await openDb(path.join(home, 'chancery.db'));
    const fsync = vi.spyOn(fs, 'fsync');
    const fsyncSync = vi.spyOn(fs, 'fsyncSync');
    await writeTx(db, event(1));
    expect(fsyncSync).not.toHaveBeenCalled();
    expect(fsync).not.toHaveBeenCalled();
  });
});

describe('shared transactions', () => {
  it('those asked for in one turn commit together; one that throws is rolled back alone', async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-shared-'));
    const file = path.join(home, 'chancery.db');
    db = await openDb(file);
    const store = db;
    await writeTx(store, event(0));
    // Another connection, as another worker process would read the file.
    const other = new SQLite(file, { readonly: true });
    const seenByOther: number[] = [];
    const realFsync = fs.fsync.bind(fs);
    const fsync = vi.spyOn(fs, 'fsync').mockImplementation(((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => realFsync(fd, cb)) as typeof fs.fsync);

    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5].map((i) =>
        writeTx(
          store,
          async (trx) => {
            seenByOther.push((other.prepare("select count(*) as n from events where type = 'test.durable'").get() as { n: number }).n);
            await event(i)(trx);
            if (i === 3) throw new Error('letter 3 cannot be recorded');
            return i;
          },
          { shared: true, durable: true },
        ),
      ),
    );
    // While the group ran, the other connection saw only the commit made before it.
    expect(seenByOther).toEqual([1, 1, 1, 1, 1]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([1, 2, 'letter 3 cannot be recorded', 4, 5]);
    expect(fsync).toHaveBeenCalledTimes(1);
    const rows = await store.selectFrom('events').select('data').where('type', '=', 'test.durable').orderBy('id').execute();
    expect(rows.map((r) => JSON.parse(r.data).i)).toEqual([0, 1, 2, 4, 5]);
    expect((await verifyChain(store)).ok).toBe(true);
    other.close();
  });
});
