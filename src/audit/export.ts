import { InputError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { canonicalJson } from '../store/events.ts';
import type { EventsTable } from '../store/schema.ts';
import { checkExportOptions, EXPORT_BATCH, writeExport, type ExportOptions, type RowWriter } from './writer.ts';

/**
 * Exports the audit trail, one event per row (CSV) or per line (JSON Lines), oldest first
 * (`chancery audit export --events`). Read in keyset batches and written by ./writer.ts
 * (streamed, temporary file renamed at the end, formulas neutralised in CSV).
 */

export { EXPORT_BATCH, type ExportFormat, type ExportOptions } from './writer.ts';

export const EXPORT_COLUMNS = ['id', 'at', 'type', 'campaign_id', 'dispatch_id', 'actor', 'data', 'prev_hash', 'hash'] as const;

export async function exportEvents(db: Db, opts: ExportOptions): Promise<{ count: number }> {
  const out = await checkExportOptions(db, opts);
  // The export is of the chain as it stood when it began: events appended meanwhile are left out.
  const head = await db.selectFrom('events').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
  const lastId = head?.id ?? 0;

  async function* batches(): AsyncGenerator<EventsTable[]> {
    let after = 0;
    for (;;) {
      let q = db.selectFrom('events').selectAll().where('id', '>', after).where('id', '<=', lastId);
      if (opts.campaignId !== undefined) q = q.where('campaign_id', '=', opts.campaignId);
      const rows = await q.orderBy('id').limit(EXPORT_BATCH).execute();
      if (rows.length === 0) return;
      yield rows;
      after = rows[rows.length - 1]!.id;
    }
  }
  return writeExport(out, opts.format, batches(), EVENT_WRITER);
}

const EVENT_WRITER: RowWriter<EventsTable> = {
  columns: EXPORT_COLUMNS,
  // The data column is the event's canonical JSON as stored.
  csvCells: (r) => [r.id, r.at, r.type, r.campaign_id, r.dispatch_id, r.actor, r.data, r.prev_hash, r.hash],
  /** One canonical JSON object per line, data as a nested object (keys sorted, no whitespace). */
  jsonLine(r) {
    let data: unknown;
    try {
      data = JSON.parse(r.data);
    } catch {
      throw new InputError(`event ${r.id}: data is not valid JSON (see chancery audit verify)`);
    }
    return canonicalJson({ ...r, data });
  },
};
