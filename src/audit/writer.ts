import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { InputError } from '../errors.ts';
import { neutraliseFormulaCell } from '../spreadsheet.ts';
import type { Db } from '../store/db.ts';

/**
 * The file side of every audit export (events, dispatches): checks the options, then writes
 * batches of rows as they come, as CSV or JSON Lines, to a temporary file that is flushed and
 * renamed at the end. Streamed: each batch is written before the next is read, so memory stays
 * flat however many rows; an interrupted export never leaves half a file under the requested name.
 */

export type ExportFormat = 'csv' | 'jsonl';
export type ExportOptions = { campaignId?: string; format: ExportFormat; out: string };

/** Rows read and written per step; measured: larger batches only cost more garbage collection. */
export const EXPORT_BATCH = 1000;

/** How one kind of row is written: CSV header and cells, one JSON object per line. */
export type RowWriter<R> = {
  columns: readonly string[];
  csvCells(row: R): unknown[];
  jsonLine(row: R): string;
};

/** Refuses bad options before anything is read or written; returns the absolute path of --out. */
export async function checkExportOptions(db: Db, opts: ExportOptions): Promise<string> {
  if (opts.format !== 'csv' && opts.format !== 'jsonl') throw new InputError(`--format: "${String(opts.format)}" is not csv or jsonl`);
  const out = path.resolve(opts.out);
  const dir = path.dirname(out);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new InputError(`--out: folder ${dir} does not exist`);
  if (opts.campaignId !== undefined) {
    const c = await db.selectFrom('campaigns').select('id').where('id', '=', opts.campaignId).executeTakeFirst();
    if (!c) throw new InputError(`--campaign: unknown campaign "${opts.campaignId}"`);
  }
  return out;
}

/**
 * Writes every batch (in order) to `out`. An empty export still gets its CSV header.
 * Text cells a spreadsheet would run as a formula get a leading quote (neutraliseFormulaCell, the
 * registry export's rule too), so a spreadsheet shows them as text.
 */
export async function writeExport<R>(out: string, format: ExportFormat, batches: AsyncIterable<R[]>, writer: RowWriter<R>): Promise<{ count: number }> {
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  const file = await fs.promises.open(tmp, 'w');
  let count = 0;
  try {
    let first = true;
    const write = async (rows: R[]) => {
      const chunk = format === 'csv' ? csvChunk(rows, writer, first) : rows.map((r) => `${writer.jsonLine(r)}\n`).join('');
      first = false;
      if (chunk) await file.write(chunk);
    };
    for await (const rows of batches) {
      if (rows.length === 0) continue;
      await write(rows);
      count += rows.length;
    }
    if (first) await write([]);
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

function csvChunk<R>(rows: R[], writer: RowWriter<R>, first: boolean): string {
  return stringify(
    rows.map((r) => writer.csvCells(r)),
    // The first chunk starts with a UTF-8 byte order mark (so a spreadsheet reads names as UTF-8) and the header.
    { header: first, bom: first, columns: [...writer.columns], cast: { string: neutraliseFormulaCell }, record_delimiter: 'unix' },
  );
}
