import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { InputError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { canonicalJson } from '../store/events.ts';
import type { EventsTable } from '../store/schema.ts';

/**
 * Exports the audit trail, one event per row (CSV) or per line (JSON Lines), oldest first.
 * Streamed: events are read in keyset batches and each batch is written before the next is read,
 * so memory stays flat for millions of events. Written to a temporary file, flushed, renamed:
 * an interrupted export never leaves half a file under the requested name.
 */

export type ExportFormat = 'csv' | 'jsonl';
export type ExportOptions = { campaignId?: string; format: ExportFormat; out: string };

export const EXPORT_COLUMNS = ['id', 'at', 'type', 'campaign_id', 'dispatch_id', 'actor', 'data', 'prev_hash', 'hash'] as const;

/** Rows read and written per step; measured: larger batches only cost more garbage collection. */
export const EXPORT_BATCH = 1000;

export async function exportEvents(db: Db, opts: ExportOptions): Promise<{ count: number }> {
  if (opts.format !== 'csv' && opts.format !== 'jsonl') throw new InputError(`--format: "${String(opts.format)}" is not csv or jsonl`);
  const out = path.resolve(opts.out);
  const dir = path.dirname(out);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new InputError(`--out: folder ${dir} does not exist`);
  if (opts.campaignId !== undefined) {
    const c = await db.selectFrom('campaigns').select('id').where('id', '=', opts.campaignId).executeTakeFirst();
    if (!c) throw new InputError(`--campaign: unknown campaign "${opts.campaignId}"`);
  }
  // The export is of the chain as it stood when it began: events appended meanwhile are left out.
  const head = await db.selectFrom('events').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
  const lastId = head?.id ?? 0;

  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  const file = await fs.promises.open(tmp, 'w');
  let count = 0;
  try {
    let after = 0;
    for (;;) {
      let q = db.selectFrom('events').selectAll().where('id', '>', after).where('id', '<=', lastId);
      if (opts.campaignId !== undefined) q = q.where('campaign_id', '=', opts.campaignId);
      const rows = await q.orderBy('id').limit(EXPORT_BATCH).execute();
      if (rows.length === 0 && count > 0) break;
      const chunk = opts.format === 'csv' ? csvChunk(rows, count === 0) : jsonlChunk(rows);
      if (chunk) await file.write(chunk);
      if (rows.length === 0) break; // an empty export still gets its CSV header
      count += rows.length;
      after = rows[rows.length - 1]!.id;
    }
    await file.sync();
    await file.close();
    fs.renameSync(tmp, out);
  } catch (err) {
    await file.close().catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  return { count };
}

/**
 * CSV rows; the data column is the event's canonical JSON as stored. csv-stringify's
 * escape_formulas prefixes with ' any text cell starting with =, +, -, @, tab or CR (and their
 * full-width forms), so a spreadsheet shows it as text instead of running it as a formula.
 */
function csvChunk(rows: EventsTable[], first: boolean): string {
  return stringify(
    rows.map((r) => [r.id, r.at, r.type, r.campaign_id, r.dispatch_id, r.actor, r.data, r.prev_hash, r.hash]),
    // The first chunk starts with a UTF-8 byte order mark (so a spreadsheet reads names as UTF-8) and the header.
    { header: first, bom: first, columns: [...EXPORT_COLUMNS], escape_formulas: true, record_delimiter: 'unix' },
  );
}

/** One canonical JSON object per line, data as a nested object (keys sorted, no whitespace). */
function jsonlChunk(rows: EventsTable[]): string {
  let text = '';
  for (const r of rows) {
    let data: unknown;
    try {
      data = JSON.parse(r.data);
    } catch {
      throw new InputError(`event ${r.id}: data is not valid JSON (see chancery audit verify)`);
    }
    text += `${canonicalJson({ ...r, data })}\n`;
  }
  return text;
}
