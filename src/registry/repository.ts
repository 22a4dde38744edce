import { InputError } from '../errors.ts';
import { batches } from '../store/batches.ts';
import type { Db } from '../store/db.ts';
import { writeTx } from '../store/tx.ts';
import { normalizeRecipient, recipientData, sha256Hex } from './canonical.ts';
import { parseRegistryFile } from './parse.ts';
import { recipientSchema, type Recipient } from './schema.ts';

export type ImportResult = { added: number; updated: number; unchanged: number };

/**
 * Adds new recipients and replaces changed ones, in one transaction: all rows or none.
 * Recipients in the store but not in the list are kept (an import is not a deletion).
 * A dry run computes the same counts and writes nothing.
 */
export async function importRecipients(db: Db, recipients: Recipient[], opts: { dryRun?: boolean } = {}): Promise<ImportResult> {
  // Validate again: callers may build records in code, and the store must only hold valid ones.
  const rows = recipients.map((input, i) => {
    const parsed = recipientSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const id = typeof input?.id === 'string' ? ` (${input.id})` : '';
      throw new InputError(`recipients[${i}]${id}, field ${issue.path.map(String).join('.') || 'record'}: ${issue.message}`);
    }
    const r = normalizeRecipient(parsed.data);
    const data = recipientData(r);
    return { id: r.id, kind: r.kind, language: r.language, data, data_sha256: sha256Hex(data) };
  });
  const ids = new Set<string>();
  for (const r of rows) {
    if (ids.has(r.id)) throw new InputError(`recipients: id ${r.id} appears twice`);
    ids.add(r.id);
  }

  // BEGIN IMMEDIATE (writeTx), not Kysely's deferred BEGIN: this reads the registry and then
  // writes, and SQLite refuses a read transaction's upgrade at once ("database is locked", no
  // waiting) when another process holds the write lock at that moment, as a worker often does.
  return writeTx(db, async (trx) => {
    const existing = new Map(
      (await trx.selectFrom('recipients').select(['id', 'data_sha256']).execute()).map((e) => [e.id, e.data_sha256]),
    );
    const now = new Date().toISOString();
    const added = rows.filter((r) => !existing.has(r.id));
    const updated = rows.filter((r) => existing.has(r.id) && existing.get(r.id) !== r.data_sha256);
    const result = { added: added.length, updated: updated.length, unchanged: rows.length - added.length - updated.length };
    if (opts.dryRun) return result;
    for (const batch of batches(added)) {
      await trx
        .insertInto('recipients')
        .values(batch.map((r) => ({ ...r, updated_at: now })))
        .execute();
    }
    for (const r of updated) {
      await trx
        .updateTable('recipients')
        .set({ kind: r.kind, language: r.language, data: r.data, data_sha256: r.data_sha256, updated_at: now })
        .where('id', '=', r.id)
        .execute();
    }
    return result;
  });
}

function fromRow(row: { id: string; data: string }): Recipient {
  const parsed = recipientSchema.safeParse(JSON.parse(row.data));
  // Only reachable if the schema changed under stored data: say which record to fix.
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(`store: recipient ${row.id}, field ${issue.path.map(String).join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** Every recipient, sorted by id. */
export async function listRecipients(db: Db): Promise<Recipient[]> {
  const rows = await db.selectFrom('recipients').select(['id', 'data']).orderBy('id').execute();
  return rows.map(fromRow);
}

export async function getRecipient(db: Db, id: string): Promise<Recipient | undefined> {
  const row = await db.selectFrom('recipients').select(['id', 'data']).where('id', '=', id).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/** Several recipients by id, in one query: a render batch's addressees. Absent ids are left out. */
export async function getRecipientsById(db: Db, ids: readonly string[]): Promise<Map<string, Recipient>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('recipients').select(['id', 'data']).where('id', 'in', [...new Set(ids)]).execute();
  return new Map(rows.map((row) => [row.id, fromRow(row)]));
}

/**
 * The recipients of a campaign: "all", "group:NAME", or a comma-separated list of ids
 * ("FRA,DEU,org:EU"; three-letter codes may be in lower case). Sorted by id.
 * An empty result or an unknown id is an error, never a silent smaller mailing.
 */
export async function selectAudience(db: Db, audience: string): Promise<Recipient[]> {
  const spec = audience.trim();
  if (spec === '') throw new InputError('audience: is empty (use all, group:NAME or a list of ids such as FRA,DEU)');
  const everyone = await listRecipients(db);
  if (spec === 'all') {
    if (everyone.length === 0) throw new InputError('audience all: the registry is empty');
    return everyone;
  }
  if (spec.startsWith('group:')) {
    const group = spec.slice('group:'.length);
    const members = everyone.filter((r) => r.groups.includes(group));
    if (members.length === 0) throw new InputError(`audience ${spec}: no recipient is in group "${group}"`);
    return members;
  }
  const wanted = [...new Set(spec.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => (/^[A-Za-z]{3}$/.test(s) ? s.toUpperCase() : s)))];
  const byId = new Map(everyone.map((r) => [r.id, r]));
  const unknown = wanted.filter((id) => !byId.has(id));
  if (unknown.length > 0) throw new InputError(`audience: unknown recipient id${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  return wanted.map((id) => byId.get(id)!).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Loads the shipped registry (CHANCERY_REGISTRY) into a store that has no recipients yet. */
export async function ensureRegistryLoaded(db: Db, file: string): Promise<void> {
  const row = await db.selectFrom('recipients').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  if (Number(row.n) > 0) return;
  await importRecipients(db, await parseRegistryFile(file));
}
