import { batches } from '../store/batches.ts';
import { engineOf, sqliteHandle, type Db } from '../store/db.ts';
import { canonicalJson, eventHash, GENESIS_HASH, type HashedEvent } from '../store/events.ts';
import type { EventsTable } from '../store/schema.ts';
import { writeTx } from '../store/tx.ts';
import { exportEvents, type ExportFormat } from './export.ts';

/**
 * Audit trail at benchmark scale: a fast generator of valid chained events (what a long-lived
 * secretariat would accumulate) and a measurement of the streaming export over them.
 */

/** Rows per write transaction: big enough to be fast, small enough to let the WAL checkpoint. */
const GENERATE_BATCH = 50_000;

/**
 * Appends n valid events at the head of the chain (so `verifyChain` still passes), cycling
 * through the life of a dispatch: queued, rendered, sending, sent. Each batch runs in one write
 * transaction and reads the head inside it, like appendEvent, so a concurrent writer cannot fork
 * the chain. SQLite: the raw handle with one prepared insert (Kysely would slow it down);
 * PostgreSQL: writeTx and multi-row INSERTs (store/batches.ts).
 */
export async function generateEvents(db: Db, n: number, opts: { campaignId?: string; actor?: string } = {}): Promise<{ first: number; last: number }> {
  const campaignId = opts.campaignId ?? 'cbench000000';
  const actor = opts.actor ?? 'worker:bench:1';
  let first = 0;
  let last = 0;
  let done = 0;
  /** The rows that follow `head`, numbered on from it. */
  const rowsAfter = (head: { id: number; hash: string } | undefined, size: number): EventsTable[] => {
    const rows: EventsTable[] = [];
    let id = head?.id ?? 0;
    let prevHash = head?.hash ?? GENESIS_HASH;
    for (let i = 0; i < size; i++) {
      const row = benchEvent(++id, done + i, campaignId, actor, prevHash);
      rows.push(row);
      prevHash = row.hash;
    }
    return rows;
  };
  const sqliteBatch = engineOf(db) === 'sqlite' ? sqliteBatcher(db, rowsAfter) : undefined;
  while (done < n) {
    const size = Math.min(GENERATE_BATCH, n - done);
    last = sqliteBatch
      ? sqliteBatch(size)
      : await writeTx(db, async (trx) => {
          const head = await trx.selectFrom('events').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
          const rows = rowsAfter(head, size);
          for (const b of batches(rows)) await trx.insertInto('events').values(b).execute();
          return rows.at(-1)!.id;
        });
    if (first === 0) first = last - size + 1;
    done += size;
  }
  return { first, last };
}

/** One batch in BEGIN IMMEDIATE on the raw SQLite handle; returns the last id written. */
function sqliteBatcher(db: Db, rowsAfter: (head: { id: number; hash: string } | undefined, size: number) => EventsTable[]): (size: number) => number {
  const sqlite = sqliteHandle(db);
  const headStmt = sqlite.prepare('select id, hash from events order by id desc limit 1');
  const insert = sqlite.prepare(
    'insert into events (id, at, type, campaign_id, dispatch_id, actor, data, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const batch = sqlite.transaction((size: number) => {
    const rows = rowsAfter(headStmt.get() as { id: number; hash: string } | undefined, size);
    for (const r of rows) insert.run(r.id, r.at, r.type, r.campaign_id, r.dispatch_id, r.actor, r.data, r.prev_hash, r.hash);
    return rows.at(-1)!.id;
  });
  return (size) => batch.immediate(size);
}

const BENCH_BASE = Date.parse('2009-07-08T08:00:00.000Z');

/** The n-th generated event (0-based), numbered `id`, after `prevHash`. */
function benchEvent(id: number, n: number, campaignId: string, actor: string, prevHash: string): EventsTable {
  const step = n % 4;
  const recipient = `R${Math.floor(n / 4)
    .toString()
    .padStart(7, '0')}`;
  const dispatchId = `note-${campaignId}-${recipient}`;
  const event: HashedEvent = {
    id,
    at: new Date(BENCH_BASE + id * 10).toISOString(),
    type: STEPS[step]!,
    campaign_id: campaignId,
    dispatch_id: dispatchId,
    actor,
    data: stepData(step, dispatchId, id),
  };
  return { ...event, data: canonicalJson(event.data), prev_hash: prevHash, hash: eventHash(prevHash, event) };
}

const STEPS = ['dispatch.queued', 'dispatch.rendered', 'dispatch.sending', 'dispatch.sent'] as const;

function stepData(step: number, dispatchId: string, id: number): Record<string, unknown> {
  const sha = id.toString(16).padStart(64, 'a');
  switch (step) {
    case 0:
      return { round: 1 };
    case 1:
      return { language: 'fr', template_id: 'cu-2009-92', template_version: 1, template_sha256: 'b'.repeat(64), pdf_sha256: sha, pages: 2, job: dispatchId };
    case 2:
      return { job: dispatchId, attempt: 1 };
    default:
      return {
        message_id: `<${dispatchId}@chancery.unodc.org>`,
        smtp_response: '250 2.0.0 OK: queued as 4B1F2C3D',
        from: 'Secretariat of the Conference of the Parties <untoc.cop@unodc.org>',
        to: ['mission@example.org'],
        cc: [],
        subject: 'CU 2009/92 (A) — Questionnaire',
        attachment: 'CU-2009-92-A.pdf',
        pdf_sha256: sha,
        transport: 'smtp',
        attempt: 1,
        possible_duplicate: false,
      };
  }
}

/** seconds is wall time; cpuSeconds (user + system of this process) is the figure to trust on a busy machine. */
export type ExportMeasure = { events: number; seconds: number; cpuSeconds: number; eventsPerSecond: number; peakRssMb: number; startRssMb: number };

/**
 * Times one export and samples the resident set size while it runs (every 10 ms; the export
 * yields to the event loop after every batch). peakRssMb is the highest sample of this process,
 * so run it in a fresh process for a figure that is the export's alone.
 */
export async function measureExport(db: Db, format: ExportFormat, out: string, opts: { campaignId?: string } = {}): Promise<ExportMeasure> {
  const mb = (bytes: number) => Math.round((bytes / (1024 * 1024)) * 10) / 10;
  const startRss = process.memoryUsage.rss();
  let peak = startRss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  try {
    const { count } = await exportEvents(db, { format, out, campaignId: opts.campaignId });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    peak = Math.max(peak, process.memoryUsage.rss());
    return { events: count, seconds, cpuSeconds, eventsPerSecond: Math.round(count / seconds), peakRssMb: mb(peak), startRssMb: mb(startRss) };
  } finally {
    clearInterval(timer);
  }
}
