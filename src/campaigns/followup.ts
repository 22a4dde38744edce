import type { Config } from '../config.ts';
import { getCampaign } from './repo.ts';
import { zonedDate, type Clock } from '../clock.ts';
import type { Db } from '../store/db.ts';
import type { ReminderRow } from './reminder-schedule.ts';

/**
 * Who has replied, who was reminded, who is overdue: per recipient of a campaign, from the store,
 * on the business clock (a recipient is overdue from the day after the reply-by date at the duty
 * station, if the note was sent and no reply is on record).
 */

export type RecipientFollowUp = {
  recipient_id: string;
  /** State of the note dispatch (sent, failed, ...). */
  note_state: string;
  sent_at: string | null;
  replied: { on: string; channel: string; their_reference: string | null; source: string; logged_by: string } | null;
  reminders: { key: string; date: string | null; state: string; sent_at: string | null }[];
  overdue: boolean;
};

export type FollowUp = {
  campaign_id: string;
  reference: string;
  reply_by: string;
  /** The clock's date at the duty station. */
  today: string;
  rounds: Pick<ReminderRow, 'key' | 'kind' | 'offset_days' | 'due_on' | 'due_at' | 'state' | 'state_reason' | 'result'>[];
  recipients: RecipientFollowUp[];
  counts: { sent: number; replied: number; reminded: number; overdue: number };
};

/** A note is overdue from the day after the reply-by date if it was sent and no reply is on record (also used by the audit export). */
export function isOverdue(noteState: string, replied: boolean, today: string, replyBy: string): boolean {
  return noteState === 'sent' && !replied && today > replyBy;
}

export async function campaignFollowUp(db: Db, cfg: Config, clock: Clock, campaignId: string): Promise<FollowUp> {
  const c = await getCampaign(db, campaignId);
  const today = zonedDate(await clock.now(), cfg.DUTY_STATION_TZ);
  const dispatches = await db
    .selectFrom('dispatches')
    .select(['id', 'recipient_id', 'kind', 'state', 'sent_at', 'reminder_key', 'letter_date', 'original_dispatch_id'])
    .where('campaign_id', '=', campaignId)
    .orderBy('recipient_id')
    .orderBy('created_at')
    .execute();
  const replies = new Map(
    (await db.selectFrom('replies').selectAll().where('campaign_id', '=', campaignId).where('replaced_by', 'is', null).execute()).map((r) => [r.dispatch_id, r]),
  );
  const rounds = await db
    .selectFrom('reminders')
    .select(['key', 'kind', 'offset_days', 'due_on', 'due_at', 'state', 'state_reason', 'result'])
    .where('campaign_id', '=', campaignId)
    .orderBy('due_at')
    .execute();
  const reminders = new Map<string, RecipientFollowUp['reminders']>();
  for (const d of dispatches) {
    if (d.kind !== 'reminder' || !d.original_dispatch_id) continue;
    const list = reminders.get(d.original_dispatch_id) ?? [];
    list.push({ key: d.reminder_key, date: d.letter_date, state: d.state, sent_at: d.sent_at });
    reminders.set(d.original_dispatch_id, list);
  }
  const recipients: RecipientFollowUp[] = dispatches
    .filter((d) => d.kind === 'note')
    .map((d) => {
      const r = replies.get(d.id);
      return {
        recipient_id: d.recipient_id,
        note_state: d.state,
        sent_at: d.sent_at,
        replied: r ? { on: r.received_on, channel: r.channel, their_reference: r.their_reference, source: r.source, logged_by: r.logged_by } : null,
        reminders: reminders.get(d.id) ?? [],
        overdue: isOverdue(d.state, !!r, today, c.reply_by),
      };
    });
  return {
    campaign_id: c.id,
    reference: c.reference,
    reply_by: c.reply_by,
    today,
    rounds,
    recipients,
    counts: {
      sent: recipients.filter((r) => r.note_state === 'sent').length,
      replied: recipients.filter((r) => r.replied).length,
      reminded: recipients.filter((r) => r.reminders.some((m) => m.state === 'sent')).length,
      overdue: recipients.filter((r) => r.overdue).length,
    },
  };
}

/** `chancery campaign overdue ID`: sent, no reply on record, reply-by date past. */
export async function overdueRecipients(db: Db, cfg: Config, clock: Clock, campaignId: string): Promise<{ today: string; reply_by: string; overdue: RecipientFollowUp[] }> {
  const f = await campaignFollowUp(db, cfg, clock, campaignId);
  return { today: f.today, reply_by: f.reply_by, overdue: f.recipients.filter((r) => r.overdue) };
}

/** One line per recipient for `campaign status`. */
export function followUpLine(r: RecipientFollowUp): string {
  const sent = r.note_state === 'sent' ? `sent ${r.sent_at?.slice(0, 10) ?? ''}` : r.note_state;
  const replied = r.replied ? `replied ${r.replied.on} (${r.replied.channel})` : 'no reply';
  const reminded = r.reminders.filter((m) => m.state === 'sent').map((m) => m.date ?? '?');
  const other = r.reminders.filter((m) => m.state !== 'sent').map((m) => `${m.key} ${m.state}`);
  return [
    r.recipient_id.padEnd(12),
    sent.padEnd(16),
    replied.padEnd(32),
    reminded.length ? `reminded ${reminded.join(', ')}` : '',
    other.length ? `(${other.join(', ')})` : '',
    r.overdue ? 'OVERDUE' : '',
  ]
    .filter((s) => s.trim() !== '')
    .join('  ');
}
