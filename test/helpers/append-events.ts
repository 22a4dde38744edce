import { openDb } from '../../src/store/db.ts';
import { appendEvent } from '../../src/store/events.ts';
import { writeTx } from '../../src/store/tx.ts';

/**
 * A writer process for the concurrency tests: `append-events.ts STORE N TAG` appends N events,
 * one write transaction each, from several concurrent jobs as a worker does (shared commits
 * included), then prints "done".
 */
const [location, n, tag] = process.argv.slice(2) as [string, string, string];
const db = await openDb(location);
const jobs = 4;
await Promise.all(
  Array.from({ length: jobs }, async (_, j) => {
    for (let i = j; i < Number(n); i += jobs) {
      await writeTx(db, (trx) => appendEvent(trx, { type: 'test.appended', actor: `writer:${tag}`, data: { tag, i } }), { shared: i % 2 === 0 });
    }
  }),
);
await db.destroy();
process.stdout.write('done\n');
