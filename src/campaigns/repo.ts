import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { InputError } from '../errors.ts';
import type { MergeOptions } from '../merge/index.ts';
import { isIsoDate } from '../merge/dates.ts';
import { tableColumns, type Db } from '../store/db.ts';
import { sql, type Selectable } from 'kysely';
import { DISPATCH_STATES, type CampaignsTable, type DispatchesTable, type DispatchState } from '../store/schema.ts';
import type { Trx } from '../store/tx.ts';

/** Campaign and dispatch rows: lookups and the small parsing rules shared by every command. */

export type Campaign = CampaignsTable;
export type Dispatch = Selectable<DispatchesTable>;

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case: no i, l, o, u

/** "c" + 10 base32 characters: short enough to type, random so two machines never collide. */
export function newCampaignId(): string {
  const bytes = randomBytes(10);
  let id = 'c';
  for (const b of bytes) id += ALPHABET[b % 32];
  return id;
}

export async function getCampaign(db: Db | Trx, id: string): Promise<Campaign> {
  const row = await db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new InputError(`unknown campaign "${id}"`);
  return row;
}

export async function getDispatch(db: Db | Trx, id: string): Promise<Dispatch | undefined> {
  return db.selectFrom('dispatches').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A strictly valid calendar date yyyy-mm-dd, or InputError naming the option. */
export function checkIsoDate(value: string, what: string): string {
  if (!isIsoDate(value)) throw new InputError(`${what}: "${value}" is not a valid date (expected yyyy-mm-dd, e.g. 2009-07-31)`);
  return value;
}

/** Reminder rounds before the reply-by date a campaign may ask for. */
export const MAX_REMIND_ROUNDS = 10;

/** "14,3" -> [14, 3]: days before the reply-by date; positive integers only, at most MAX_REMIND_ROUNDS. */
export function parseRemindOffsets(value: string | undefined): number[] {
  if (value === undefined || value.trim() === '') return [];
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length > MAX_REMIND_ROUNDS) {
    throw new InputError(`--remind: "${value.length > 40 ? `${value.slice(0, 40)}…` : value}" asks for ${parts.length} rounds; at most ${MAX_REMIND_ROUNDS}`);
  }
  const out: number[] = [];
  for (const p of parts) {
    if (!/^[1-9]\d{0,3}$/.test(p)) throw new InputError(`--remind: "${p}" is not a positive whole number of days (e.g. --remind 14,3)`);
    const n = Number(p);
    if (out.includes(n)) throw new InputError(`--remind: ${n} is given twice`);
    out.push(n);
  }
  return out.sort((a, b) => b - a);
}

/** What merge needs from a campaign: its reference and dates override the template's. */
export function mergeOptionsOf(c: Campaign): MergeOptions {
  return { reference: c.reference, letterDate: c.letter_date, replyBy: c.reply_by };
}

/** Who runs a command when --by is not given. */
export function defaultActor(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** Actor name for worker processes in the audit trail. */
export function workerActor(): string {
  return `worker:${os.hostname()}:${process.pid}`;
}

export const TERMINAL_STATES = ['sent', 'failed', 'cancelled'] as const;
/**
 * The others: still open. Queries ask for these by name rather than "not terminal": an index on
 * (campaign_id, state) then serves them on PostgreSQL too, whose planner otherwise scans the whole
 * table for a NOT IN when its statistics predate the campaign's rows.
 */
export const OPEN_STATES: readonly DispatchState[] = DISPATCH_STATES.filter((s) => !(TERMINAL_STATES as readonly string[]).includes(s));

/** What the send step reads of its campaign: the message's reference and dates. */
export type SendCampaign = Pick<Campaign, 'id' | 'reference' | 'letter_date' | 'reply_by'>;

/**
 * The campaign as the send step needs it, and nothing more. Every column read here is stored
 * before approval_detail: that detail (~1 MB at 10,000 recipients) spills over ~250 overflow
 * pages, and SQLite reaches a column stored after it only by walking that chain, ~0.1 ms of CPU a
 * send job (more when another process's commit has emptied the page cache).
 */
export async function getCampaignForSend(db: Db | Trx, id: string): Promise<SendCampaign> {
  const row = await db.selectFrom('campaigns').select(['id', 'reference', 'letter_date', 'reply_by']).where('id', '=', id).executeTakeFirst();
  if (!row) throw new InputError(`unknown campaign "${id}"`);
  return row;
}

/**
 * getCampaign for the worker steps (bench helper). The approval detail holds one fingerprint per
 * recipient (about 90 bytes each: ~1 MB at 10,000 recipients); reading and parsing it for every
 * render and send job made each job cost O(campaign size). Here it is read from the store once per
 * approval fingerprint (which is the SHA-256 of that very detail, so equal fingerprints mean equal
 * detail) and kept, parsed, per process; every other column is read fresh for each job.
 */
const detailMemo = new Map<string, { text: string; parsed: unknown }>();
let stepColumns: string[] | undefined;

export async function getCampaignForStep(db: Db | Trx, id: string): Promise<Campaign & { approvalParsed?: unknown }> {
  stepColumns ??= (await tableColumns(db, 'campaigns')).filter((n) => n !== 'approval_detail');
  const row = await db
    .selectFrom('campaigns')
    .select(stepColumns.map((c) => sql.ref(c).as(c)) as never[])
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new InputError(`unknown campaign "${id}"`);
  const head = row as unknown as Omit<Campaign, 'approval_detail'>;
  if (!head.approval_fingerprint) return { ...head, approval_detail: null };
  const key = `${id}:${head.approval_fingerprint}`;
  let memo = detailMemo.get(key);
  if (!memo) {
    const r = await db.selectFrom('campaigns').select(['approval_fingerprint', 'approval_detail']).where('id', '=', id).executeTakeFirst();
    // Approved again between the two reads: take the whole row as it is now.
    if (!r || r.approval_fingerprint !== head.approval_fingerprint || r.approval_detail === null) return getCampaign(db, id);
    if (detailMemo.size >= 16) detailMemo.clear();
    memo = { text: r.approval_detail, parsed: JSON.parse(r.approval_detail) };
    detailMemo.set(key, memo);
  }
  return { ...head, approval_detail: memo.text, approvalParsed: memo.parsed };
}
