import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { neutraliseFormulaCell, restoreFormulaCell } from '../spreadsheet.ts';
import { getRecipient, importRecipients, listRecipients, readRegistry, recipientFingerprint, type ImportResult, type Recipient, type RegistryFormat } from '../registry/index.ts';
import { exportColumns, recipientsToCsv } from '../registry/csv.ts';
import type { WebRuntime } from './context.ts';
import { HttpError, need, recordEvent } from './service.ts';
import type { User } from './users.ts';

/**
 * The registry in the browser. Editing one recipient and importing a file go through the very
 * reader of `chancery registry import` (readRegistry: the encoding check, the CSV columns, the
 * same schema, the same messages); the only difference is that every problem is listed, not
 * only the first.
 */

export function searchRecipients(all: Recipient[], q: string): Recipient[] {
  const needle = q.trim().toLowerCase();
  if (!needle) return all;
  return all.filter((r) => {
    const hay = [r.id, ...Object.values(r.names).flatMap((n) => (n ? [n.short, n.running] : [])), ...r.email.to, ...r.address.lines, r.address.city, ...r.groups].join('\n').toLowerCase();
    return hay.includes(needle);
  });
}

export type ImportOutcome = { problems: string[]; rows: number; result?: ImportResult; dryRun: boolean };

/**
 * Import a registry file's bytes (CSV or JSON), read exactly as `chancery registry import` reads
 * a file (readRegistry: UTF-8 only, the same checks and messages): all rows or none; a dry run
 * validates and counts, writing nothing.
 */
export async function importRegistryBytes(rt: WebRuntime, user: User, label: string, bytes: Uint8Array, format: RegistryFormat, dryRun: boolean): Promise<ImportOutcome> {
  need(user, 'admin', 'import into the registry');
  const { recipients, problems } = readRegistry(label, bytes, format);
  if (problems.length > 0) return { problems, rows: recipients.length + problems.length, dryRun };
  const result = await importRecipients(rt.db, recipients, { dryRun });
  if (!dryRun) await recordEvent(rt, user.name, 'registry.imported', { file: label.slice(0, 200), ...result });
  return { problems: [], rows: recipients.length, result, dryRun };
}

/** A recipient as the CSV columns an import would use (values as a user types them). */
export function recipientFields(r: Recipient): { column: string; value: string }[] {
  const [columns, values] = parse(recipientsToCsv([r])) as string[][];
  // Export protects spreadsheet formulas with a leading quote; the form shows the value itself.
  return (columns ?? []).map((column, i) => ({ column, value: restoreFormulaCell(values?.[i] ?? '') }));
}

/** Edits one recipient from its form: same columns, same parser, same schema as an import. */
export async function editRecipient(rt: WebRuntime, user: User, id: string, form: Record<string, unknown>): Promise<{ recipient?: Recipient; problems: string[]; fields: { column: string; value: string }[] }> {
  need(user, 'admin', 'edit the registry');
  const current = await getRecipient(rt.db, id);
  if (!current) throw new HttpError(404, `unknown recipient "${id}"`);
  const columns = exportColumns([current]);
  const values = columns.map((c) => (c === 'id' ? id : typeof form[c] === 'string' ? (form[c] as string) : ''));
  const fields = columns.map((column, i) => ({ column, value: values[i]! }));
  // A value typed with a leading = + - @ (or ＝＋－＠) is kept as typed: quote it as the export would.
  const text = stringify([columns, values.map(neutraliseFormulaCell)], { record_delimiter: 'unix' });
  const { recipients, problems } = readRegistry(`recipient ${id}`, Buffer.from(text, 'utf8'), 'csv');
  if (problems.length > 0) return { problems, fields };
  const recipient = recipients[0]!;
  const before = recipientFingerprint(current);
  const result = await importRecipients(rt.db, [recipient]);
  if (result.updated > 0) await recordEvent(rt, user.name, 'registry.recipient-edited', { recipient_id: id, before, after: recipientFingerprint(recipient) });
  return { recipient, problems: [], fields };
}

export async function allRecipients(rt: WebRuntime): Promise<Recipient[]> {
  return listRecipients(rt.db);
}
