import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { getCampaign } from '../campaigns/repo.ts';
import { zonedDate, type Clock } from '../clock.ts';
import { InputError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import { isIsoDate } from '../merge/index.ts';
import { encodeIdPart } from '../queue/queues.ts';
import type { Db } from '../store/db.ts';
import { appendEvent } from '../store/events.ts';
import { REPLY_CHANNELS, type RepliesTable, type ReplyChannel } from '../store/schema.ts';
import { nowIso, writeTx, type Trx } from '../store/tx.ts';
import { cancelOpenRemindersTx, currentReply } from '../campaigns/reminder.ts';

/**
 * Replies on record. One current reply per note dispatch; `--replace` keeps the old row and
 * points it to the new one (replaced_by), so the record of what was logged is never lost.
 * Files (a scan, the .eml of an e-mail reply and its attachments) are copied under
 * var/replies/<campaign>/<recipient>/ with their SHA-256. Recording a reply cancels the
 * recipient's reminders not yet being sent, in the same transaction.
 */

export type Reply = RepliesTable;

export type StoredFile = { role: 'file' | 'message' | 'attachment'; filename: string; path: string; sha256: string; bytes: number };

export type RecordReplyInput = {
  campaignId: string;
  recipientId: string;
  /** yyyy-mm-dd at the duty station; default: the clock's today. */
  receivedOn?: string;
  channel?: string;
  theirReference?: string;
  note?: string;
  /** A file to keep with the reply (scan of their note, PDF...). */
  file?: string;
  by: string;
  replace?: boolean;
};

export type RecordedReply = { reply: Reply; replaced: Reply | undefined; files: StoredFile[]; cancelledReminders: string[] };

export function parseChannel(value: string | undefined, fallback: ReplyChannel): ReplyChannel {
  if (value === undefined) return fallback;
  const v = value.trim().toLowerCase();
  if (!(REPLY_CHANNELS as readonly string[]).includes(v)) throw new InputError(`--channel: "${value}" is not one of ${REPLY_CHANNELS.join(', ')}`);
  return v as ReplyChannel;
}

function safeName(name: string): string {
  const base = path.basename(name).normalize('NFKD').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return (base || 'file').slice(-100);
}

/** var/replies/<campaign>/<recipient> */
export function replyDir(cfg: Config, campaignId: string, recipientId: string): string {
  return path.join(cfg.paths.home, 'replies', campaignId, encodeIdPart(recipientId));
}

/**
 * Writes bytes under `dir` as <sha256 prefix>-<name> (content-addressed: the same file twice is
 * one copy), atomically. Returns the record and whether this call created it (for clean-up).
 */
export function storeBytes(cfg: Config, dir: string, role: StoredFile['role'], filename: string, bytes: Buffer): { file: StoredFile; created: boolean } {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const file = path.join(dir, `${sha256.slice(0, 16)}-${safeName(filename)}`);
  let created = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(file, bytes);
    created = true;
  }
  return { file: { role, filename: path.basename(filename) || 'file', path: path.relative(cfg.paths.home, file), sha256, bytes: bytes.length }, created };
}

export function removeCreated(cfg: Config, created: StoredFile[]): void {
  for (const f of created) fs.rmSync(path.resolve(cfg.paths.home, f.path), { force: true });
}

export type RecordCore = {
  campaignId: string;
  recipientId: string;
  receivedOn: string;
  channel: ReplyChannel;
  theirReference: string | null;
  note: string | null;
  by: string;
  replace: boolean;
  source: 'manual' | 'ingest';
  matchMethod: string | null;
  sourceSha256: string | null;
  files: StoredFile[];
  /** Runs in the same transaction once the reply row exists (ingest bookkeeping). */
  alsoInTx?: (trx: Trx, replyId: string) => Promise<void>;
  clock: Date;
};

/** The note dispatch a reply answers (one per recipient and campaign). */
export async function noteDispatchOf(db: Db | Trx, campaignId: string, recipientId: string): Promise<{ id: string; state: string; sent_at: string | null } | undefined> {
  return db.selectFrom('dispatches').select(['id', 'state', 'sent_at']).where('campaign_id', '=', campaignId).where('recipient_id', '=', recipientId).where('kind', '=', 'note').executeTakeFirst();
}

/** Inserts the reply (and its files) in one transaction; refuses a second one unless replace. */
export async function recordReplyCore(db: Db, input: RecordCore): Promise<Omit<RecordedReply, 'files'>> {
  return writeTx(db, async (trx) => {
    const note = await noteDispatchOf(trx, input.campaignId, input.recipientId);
    if (!note) throw new InputError(`campaign ${input.campaignId} has no note dispatched to ${input.recipientId}: nothing to reply to`);
    const existing = await currentReply(trx, note.id);
    let replaced: Reply | undefined;
    if (existing) {
      replaced = await trx.selectFrom('replies').selectAll().where('id', '=', existing.id).executeTakeFirstOrThrow();
      if (!input.replace) {
        throw new InputError(
          `campaign ${input.campaignId}: a reply from ${input.recipientId} is already on record (received ${replaced.received_on} by ${replaced.channel}, logged by ${replaced.logged_by}${replaced.source === 'ingest' ? ' from an e-mail' : ''}); use --replace to replace it`,
        );
      }
    }
    const count = await trx.selectFrom('replies').select((eb) => eb.fn.countAll<number>().as('n')).where('dispatch_id', '=', note.id).executeTakeFirst();
    const id = `reply-${note.id.replace(/^note-/, '')}-${Number(count?.n ?? 0) + 1}`;
    const at = nowIso();
    const main = input.files.find((f) => f.role === 'message') ?? input.files.find((f) => f.role === 'file');
    if (replaced) {
      // The partial unique index allows one current reply: retire the old one first.
      await trx.updateTable('replies').set({ replaced_by: id }).where('id', '=', replaced.id).execute();
    }
    const row: Reply = {
      id,
      dispatch_id: note.id,
      campaign_id: input.campaignId,
      recipient_id: input.recipientId,
      received_on: input.receivedOn,
      channel: input.channel,
      their_reference: input.theirReference,
      note: input.note,
      file_path: main?.path ?? null,
      file_sha256: main?.sha256 ?? null,
      logged_by: input.by,
      logged_at: at,
      source: input.source,
      match_method: input.matchMethod,
      source_sha256: input.sourceSha256,
      replaced_by: null,
    };
    await trx.insertInto('replies').values(row).execute();
    for (const f of input.files) await trx.insertInto('reply_files').values({ reply_id: id, role: f.role, filename: f.filename, path: f.path, sha256: f.sha256, bytes: f.bytes }).execute();
    await appendEvent(trx, {
      type: replaced ? 'reply.replaced' : 'reply.recorded',
      campaignId: input.campaignId,
      dispatchId: note.id,
      actor: input.by,
      at,
      data: {
        reply_id: id,
        recipient_id: input.recipientId,
        received_on: input.receivedOn,
        channel: input.channel,
        their_reference: input.theirReference,
        source: input.source,
        match_method: input.matchMethod,
        source_sha256: input.sourceSha256,
        files: input.files.map((f) => ({ role: f.role, filename: f.filename, path: f.path, sha256: f.sha256 })),
        replaces: replaced?.id,
        clock: input.clock.toISOString(),
      },
    });
    const cancelledReminders = await cancelOpenRemindersTx(trx, note.id, id, input.by);
    await input.alsoInTx?.(trx, id);
    return { reply: row, replaced, cancelledReminders };
  });
}

/** `chancery reply record CAMPAIGN RID ...` */
export async function recordReply(db: Db, cfg: Config, clock: Clock, input: RecordReplyInput): Promise<RecordedReply> {
  const campaign = await getCampaign(db, input.campaignId);
  const by = input.by.trim();
  if (!by) throw new InputError('--by: the name of who logs the reply is empty');
  const now = await clock.now();
  const today = zonedDate(now, cfg.DUTY_STATION_TZ);
  const receivedOn = input.receivedOn ?? today;
  if (!isIsoDate(receivedOn)) throw new InputError(`--received: "${receivedOn}" is not a valid date (expected yyyy-mm-dd, e.g. 2009-07-20)`);
  if (receivedOn > today) throw new InputError(`--received: ${receivedOn} is in the future (today is ${today} at the duty station)`);
  if (receivedOn < campaign.letter_date) throw new InputError(`--received: ${receivedOn} is before the date of the note (${campaign.letter_date})`);
  const channel = parseChannel(input.channel, 'email');
  const line = (v: string | undefined, what: string, max: number) => {
    if (v === undefined || v.trim() === '') return null;
    if (v.length > max) throw new InputError(`${what}: longer than ${max} characters`);
    return v.trim();
  };
  const theirReference = line(input.theirReference, '--reference', 200);
  if (theirReference && /[\r\n]/.test(theirReference)) throw new InputError('--reference: must be one line');
  const note = line(input.note, '--note', 4000);

  // Cheap checks before copying any file, so a refusal leaves nothing behind.
  const dispatch = await noteDispatchOf(db, campaign.id, input.recipientId);
  if (!dispatch) throw new InputError(`campaign ${campaign.id} has no note dispatched to ${input.recipientId}: nothing to reply to`);
  const existing = await currentReply(db, dispatch.id);
  if (existing && !input.replace) {
    throw new InputError(`campaign ${campaign.id}: a reply from ${input.recipientId} is already on record (received ${existing.received_on} by ${existing.channel}); use --replace to replace it`);
  }

  const files: StoredFile[] = [];
  const created: StoredFile[] = [];
  if (input.file !== undefined) {
    let bytes: Buffer;
    try {
      if (!fs.statSync(input.file).isFile()) throw new Error('not a file');
      bytes = fs.readFileSync(input.file);
    } catch {
      throw new InputError(`--file: cannot read ${input.file}`);
    }
    const s = storeBytes(cfg, replyDir(cfg, campaign.id, input.recipientId), 'file', input.file, bytes);
    files.push(s.file);
    if (s.created) created.push(s.file);
  }
  try {
    const r = await recordReplyCore(db, {
      campaignId: campaign.id,
      recipientId: input.recipientId,
      receivedOn,
      channel,
      theirReference,
      note,
      by,
      replace: !!input.replace,
      source: 'manual',
      matchMethod: null,
      sourceSha256: null,
      files,
      clock: now,
    });
    return { ...r, files };
  } catch (err) {
    removeCreated(cfg, created);
    throw err;
  }
}

/** Replies on record for a campaign (current ones unless all). */
export async function listReplies(db: Db, campaignId: string, opts: { all?: boolean } = {}): Promise<Reply[]> {
  let q = db.selectFrom('replies').selectAll().where('campaign_id', '=', campaignId);
  if (!opts.all) q = q.where('replaced_by', 'is', null);
  return q.orderBy('recipient_id').orderBy('logged_at').execute();
}
