import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { InputError } from '../errors.ts';
import type { MergeOptions } from '../merge/index.ts';
import { isIsoDate } from '../merge/dates.ts';
import type { Db } from '../store/db.ts';
import type { CampaignsTable, DispatchesTable } from '../store/schema.ts';
import type { Trx } from '../store/tx.ts';

/** Campaign and dispatch rows: lookups and the small parsing rules shared by every command. */

export type Campaign = CampaignsTable;
export type Dispatch = DispatchesTable;

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

/** "14,3" -> [14, 3]: days before the reply-by date; positive integers only. */
export function parseRemindOffsets(value: string | undefined): number[] {
  if (value === undefined || value.trim() === '') return [];
  const parts = value.split(',').map((s) => s.trim());
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
