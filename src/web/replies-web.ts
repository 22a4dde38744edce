import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { storeClock } from '../clock.ts';
import { campaignFollowUp, type FollowUp, type RecipientFollowUp } from '../campaigns/followup.ts';
import { assignReply, listUnmatched } from '../deadlines/ingest.ts';
import { recordReply, type RecordedReply } from '../deadlines/replies.ts';
import { InputError } from '../errors.ts';
import { REPLY_CHANNELS, type IngestedEmailsTable } from '../store/schema.ts';
import type { WebRuntime } from './context.ts';
import { need } from './service.ts';
import type { User } from './users.ts';

/**
 * Replies and deadlines in the browser (src/deadlines): who replied, when and how, reminders
 * sent, who is overdue on the store's clock; record a reply with its file; assign an ingested
 * e-mail nobody could match.
 */

export { REPLY_CHANNELS };

export async function followUp(rt: WebRuntime, campaignId: string): Promise<{ follow: FollowUp; byRecipient: Map<string, RecipientFollowUp> }> {
  const follow = await campaignFollowUp(rt.db, rt.cfg, storeClock(rt.db), campaignId);
  return { follow, byRecipient: new Map(follow.recipients.map((r) => [r.recipient_id, r])) };
}

export type ReplyForm = { receivedOn?: string; channel?: string; theirReference?: string; note?: string; replace?: boolean; file?: { filename: string; content: Buffer } };

/** Records a reply (drafter); an uploaded file is kept with it under var/replies. */
export async function doRecordReply(rt: WebRuntime, user: User, campaignId: string, recipientId: string, form: ReplyForm): Promise<RecordedReply> {
  need(user, 'draft', 'record replies');
  let dir: string | undefined;
  let file: string | undefined;
  if (form.file && form.file.content.length > 0) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-upload-'));
    file = path.join(dir, path.basename(form.file.filename).replace(/[^\p{L}\p{N}._ -]+/gu, '_') || 'file');
    fs.writeFileSync(file, form.file.content);
  }
  try {
    return await recordReply(rt.db, rt.cfg, storeClock(rt.db), {
      campaignId,
      recipientId,
      receivedOn: form.receivedOn?.trim() || undefined,
      channel: form.channel?.trim() || undefined,
      theirReference: form.theirReference,
      note: form.note,
      file,
      by: user.name,
      replace: form.replace,
    });
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function unmatchedEmails(rt: WebRuntime): Promise<IngestedEmailsTable[]> {
  return listUnmatched(rt.db);
}

/** A person says whose reply an ingested e-mail is (drafter). */
export async function doAssign(rt: WebRuntime, user: User, sha256: string, campaignId: string, recipientId: string, replace: boolean): Promise<RecordedReply> {
  need(user, 'draft', 'assign replies');
  const row = await rt.db.selectFrom('ingested_emails').selectAll().where('sha256', '=', sha256).executeTakeFirst();
  if (!row) throw new InputError(`no ingested e-mail ${sha256.slice(0, 16)}…`);
  return assignReply(rt.db, rt.cfg, storeClock(rt.db), path.resolve(rt.cfg.paths.home, row.stored_path), campaignId, recipientId, { by: user.name, replace });
}
