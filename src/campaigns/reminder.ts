import type { Config } from '../config.ts';
import type { DispatchContext } from './context.ts';
import { noteMessage } from './message.ts';
import type { Campaign, Dispatch } from './repo.ts';
import { attachmentFileName, type OutgoingMessage } from '../mail/index.ts';
import { chooseVersion, formatDate, type MergeOptions } from '../merge/index.ts';
import { getRecipient, type Recipient } from '../registry/index.ts';
import type { Db } from '../store/db.ts';
import type { CampaignState } from '../store/schema.ts';
import { appendEvent } from '../store/events.ts';
import { nowIso, writeTx, type Trx } from '../store/tx.ts';
import { loadTemplateVersions, type Template } from '../templates/index.ts';
import { approvedTemplateVersions } from './template-sources.ts';

/**
 * What makes a reminder dispatch different from the note it recalls. Reminders go through the
 * same render and send steps (src/campaigns/process.ts) and the same exactly-once claim; these
 * are the few decisions those steps ask about them.
 *
 * Template: by convention `<campaign template id>-reminder` (templates/cu-2009-92-reminder.fr.md,
 * .en.md), the text approved with the campaign (kept in the store: ./template-sources.ts), in the
 * recipient's language, merged with the campaign's reference and reply-by date,
 * the original's reference and date ({{OriginalReference}}, {{OriginalLetterDate}}) and the
 * reminder's own date (the duty-station day its round ran). Reference: the campaign's own
 * (CU 2009/92 (A)), so replies quoting it are matched the same way.
 * Addressee: the registry record of today, not the snapshot of the original (a new Permanent
 * Representative receives the reminder). The note's approval does not cover the registry of
 * today; each reminder records its template hash and the recipient exactly as merged.
 */

/** Campaign states in which a reminder may be rendered and sent (the note may still be finishing). */
export const REMINDER_CAMPAIGN_STATES: readonly CampaignState[] = ['sending', 'done'];

export function reminderTemplateId(c: Pick<Campaign, 'template_id'>): string {
  return `${c.template_id}-reminder`;
}

/** `reminder-c4k9x2m7qd-FRA-b14`: one per recipient and round. */
export function reminderDispatchId(noteDispatchId: string, key: string): string {
  return `${noteDispatchId.replace(/^note-/, 'reminder-')}-${key}`;
}

/** `problem`: why the approved reminder template cannot be had (the letter then fails). */
export type ReminderInputs = { recipient: Recipient | undefined; template: Template | undefined; templateId: string; options: MergeOptions; problem?: string };

/**
 * `approved`: the reminder template versions the campaign's approval covers (language -> SHA-256),
 * rendered from the store; a campaign approved before approvals covered them reads the folder.
 */
export async function reminderDocumentInputs(cfg: Config, db: Db, c: Campaign, d: Dispatch, approved: Record<string, string> | undefined): Promise<ReminderInputs> {
  const templateId = reminderTemplateId(c);
  const recipient = await getRecipient(db, d.recipient_id);
  const found = approved ? await approvedTemplateVersions(db, cfg.paths.templates, templateId, approved) : { versions: await loadTemplateVersions(cfg.paths.templates, templateId) };
  const template = recipient && found.versions ? chooseVersion(found.versions, recipient) : undefined;
  return {
    recipient,
    template,
    templateId,
    problem: found.problem,
    options: {
      reference: c.reference,
      letterDate: d.letter_date ?? c.letter_date,
      replyBy: c.reply_by,
      remindOriginal: { reference: c.reference, letterDate: c.letter_date },
    },
  };
}

/** The reply on record for a note dispatch, if any. */
export async function currentReply(db: Db | Trx, noteDispatchId: string): Promise<{ id: string; received_on: string; channel: string } | undefined> {
  return db
    .selectFrom('replies')
    .select(['id', 'received_on', 'channel'])
    .where('dispatch_id', '=', noteDispatchId)
    .where('replaced_by', 'is', null)
    .executeTakeFirst();
}

/** Open reminder dispatches of one recipient are cancelled once a reply is on record. */
export async function cancelOpenRemindersTx(trx: Trx, noteDispatchId: string, replyId: string, actor: string): Promise<string[]> {
  const open = await trx
    .selectFrom('dispatches')
    .select(['id', 'campaign_id', 'state'])
    .where('original_dispatch_id', '=', noteDispatchId)
    .where('kind', '=', 'reminder')
    .where('state', 'in', ['pending', 'queued', 'rendered'])
    .execute();
  const at = nowIso();
  for (const d of open) {
    await trx.updateTable('dispatches').set({ state: 'cancelled', updated_at: at }).where('id', '=', d.id).where('state', '=', d.state).execute();
    await appendEvent(trx, { type: 'dispatch.cancelled', campaignId: d.campaign_id, dispatchId: d.id, actor, at, data: { from: d.state, reason: 'reply on record', reply_id: replyId } });
  }
  return open.map((d) => d.id);
}

/**
 * Called by the render and send steps: if a reply is on record for the original, the reminder is
 * cancelled (if still open) and true is returned.
 */
export async function cancelReminderIfReplied(ctx: Pick<DispatchContext, 'db' | 'actor'>, d: Pick<Dispatch, 'id' | 'original_dispatch_id'>): Promise<boolean> {
  if (!d.original_dispatch_id) return false;
  const original = d.original_dispatch_id;
  return writeTx(ctx.db, async (trx) => {
    const reply = await currentReply(trx, original);
    if (!reply) return false;
    const cancelled = await cancelOpenRemindersTx(trx, original, reply.id, ctx.actor);
    return cancelled.length > 0 || (await trx.selectFrom('dispatches').select('state').where('id', '=', d.id).executeTakeFirst())?.state === 'cancelled';
  });
}

/**
 * The e-mail carrying a reminder: like the note's (same From, To/Cc of the addressee as merged),
 * a subject and covering text that say it is a reminder, In-Reply-To/References the original's
 * Message-ID (the mission's mail client threads it; a reply to it still matches), the PDF attached.
 */
export function reminderMessage(
  cfg: Config,
  m: { dispatchId: string; reference: string; subject: string; language: string; letterDate: string; originalLetterDate: string; replyBy: string; recipient: Recipient; pdf: Buffer; originalMessageId: string | null },
): OutgoingMessage {
  const base = noteMessage(cfg, { ...m });
  const fr = m.language === 'fr';
  const lang = fr ? 'fr' : 'en';
  const original = formatDate(m.originalLetterDate, lang);
  const replyBy = formatDate(m.replyBy, lang);
  const dative = m.recipient.titles[lang]?.dative;
  const text = fr
    ? [
        `Veuillez trouver ci-joint un rappel concernant la note verbale ${m.reference} du ${original}${dative ? `, adressé ${dative}` : ''}.`,
        '',
        `Les réponses étaient attendues d'ici au ${replyBy}, à l'adresse ${cfg.MAIL_REPLY_TO}. Si votre réponse nous est parvenue entre-temps, veuillez ne pas tenir compte de ce rappel.`,
        '',
        `Référence: ${m.reference}`,
      ]
    : [
        `Please find attached a reminder concerning note verbale ${m.reference} of ${original}${dative ? `, addressed ${dative}` : ''}.`,
        '',
        `Replies were requested by ${replyBy}, to ${cfg.MAIL_REPLY_TO}. If your reply has reached us in the meantime, please disregard this reminder.`,
        '',
        `Reference: ${m.reference}`,
      ];
  const headers: Record<string, string> = { ...base.headers };
  if (m.originalMessageId) {
    headers['In-Reply-To'] = m.originalMessageId;
    headers.References = m.originalMessageId;
  }
  return {
    ...base,
    text: `${text.join('\n')}\n`,
    headers,
    attachments: base.attachments.map((a) => ({ ...a, filename: attachmentFileName(`${m.reference} ${fr ? 'rappel' : 'reminder'} ${m.letterDate}`, m.recipient.id) })),
  };
}

/** Everything the send step needs to build a reminder's e-mail. */
export async function reminderMail(ctx: Pick<DispatchContext, 'db' | 'cfg'>, c: Pick<Campaign, 'reference' | 'letter_date' | 'reply_by'>, d: Dispatch, recipient: Recipient, pdf: Buffer): Promise<OutgoingMessage> {
  const original = d.original_dispatch_id ? await ctx.db.selectFrom('dispatches').select(['message_id']).where('id', '=', d.original_dispatch_id).executeTakeFirst() : undefined;
  return reminderMessage(ctx.cfg, {
    dispatchId: d.id,
    reference: c.reference,
    subject: d.subject ?? '',
    language: d.language ?? recipient.language,
    letterDate: d.letter_date ?? c.letter_date,
    originalLetterDate: c.letter_date,
    replyBy: c.reply_by,
    recipient,
    pdf,
    originalMessageId: original?.message_id ?? null,
  });
}
