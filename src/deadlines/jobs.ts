import type { DispatchContext } from '../campaigns/context.ts';
import { enqueuePending } from '../campaigns/enqueue.ts';
import { reminderDispatchId } from '../campaigns/reminder.ts';
import type { RemindPayload } from '../campaigns/reminder-jobs.ts';
import type { ReminderRow } from '../campaigns/reminder-schedule.ts';
import { getCampaign } from '../campaigns/repo.ts';
import { zonedDate, type Clock } from '../clock.ts';
import type { Db } from '../store/db.ts';
import { appendEvent } from '../store/events.ts';
import { nowIso, writeTx } from '../store/tx.ts';

/**
 * A reminder round, run by the remind worker when its delayed job (src/campaigns/reminder-jobs.ts)
 * comes due. The store decides: a job delivered twice, late, or for a round cancelled or moved
 * does nothing.
 */

export type RoundOutcome =
  | { outcome: 'sent-to-render'; reminded: string[]; replied: number; notSent: number }
  | { outcome: 'not-due'; waitMs: number }
  | { outcome: 'stale' | 'missing' | 'not-scheduled' | 'campaign-cancelled' | 'campaign-not-sending' };

/**
 * Runs one reminder round: to every recipient whose note was sent and who has no reply on record,
 * one reminder dispatch (dated the clock's day at the duty station), then render jobs for them.
 * The render and send steps check for a reply again, and the send claim a last time.
 */
export async function runReminderRound(ctx: DispatchContext, clock: Clock, payload: RemindPayload): Promise<RoundOutcome> {
  const row = await ctx.db.selectFrom('reminders').selectAll().where('id', '=', payload.reminderId).executeTakeFirst();
  if (!row) return { outcome: 'missing' };
  if (row.state !== 'scheduled') return { outcome: 'not-scheduled' };
  if (row.due_at !== payload.dueAt) return { outcome: 'stale' };
  const now = await clock.now();
  const wait = Date.parse(row.due_at) - now.getTime();
  if (wait > 0) return { outcome: 'not-due', waitMs: wait };
  const campaign = await getCampaign(ctx.db, row.campaign_id);
  if (campaign.state === 'cancelled') {
    await writeTx(ctx.db, async (trx) => {
      const res = await trx.updateTable('reminders').set({ state: 'cancelled', state_reason: 'campaign cancelled', updated_at: nowIso() }).where('id', '=', row.id).where('state', '=', 'scheduled').executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) await appendEvent(trx, { type: 'reminder.cancelled', campaignId: campaign.id, actor: ctx.actor, data: { key: row.key, reason: 'campaign cancelled' } });
    });
    return { outcome: 'campaign-cancelled' };
  }
  // Paused (or not yet sending): the round stays scheduled; the sweep brings it back.
  if (campaign.state !== 'sending' && campaign.state !== 'done') return { outcome: 'campaign-not-sending' };

  const letterDate = zonedDate(now, ctx.cfg.DUTY_STATION_TZ);
  const result = await writeTx(ctx.db, async (trx) => {
    const at = nowIso();
    const claimed = await trx.updateTable('reminders').set({ state: 'done', ran_at: at, updated_at: at }).where('id', '=', row.id).where('state', '=', 'scheduled').where('due_at', '=', payload.dueAt).executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return undefined;
    const notes = await trx.selectFrom('dispatches').select(['id', 'recipient_id', 'state']).where('campaign_id', '=', campaign.id).where('kind', '=', 'note').orderBy('recipient_id').execute();
    const replied = new Set((await trx.selectFrom('replies').select('dispatch_id').where('campaign_id', '=', campaign.id).where('replaced_by', 'is', null).execute()).map((r) => r.dispatch_id));
    const already = new Set(
      (await trx.selectFrom('dispatches').select('recipient_id').where('campaign_id', '=', campaign.id).where('kind', '=', 'reminder').where('reminder_key', '=', row.key).execute()).map((r) => r.recipient_id),
    );
    const reminded: string[] = [];
    let repliedCount = 0;
    let notSent = 0;
    for (const n of notes) {
      if (n.state !== 'sent') {
        notSent++;
        continue;
      }
      if (replied.has(n.id)) {
        repliedCount++;
        continue;
      }
      if (already.has(n.recipient_id)) continue;
      const id = reminderDispatchId(n.id, row.key);
      await trx
        .insertInto('dispatches')
        .values({
          id,
          campaign_id: campaign.id,
          recipient_id: n.recipient_id,
          kind: 'reminder',
          reminder_key: row.key,
          original_dispatch_id: n.id,
          letter_date: letterDate,
          state: 'pending',
          attempts: 0,
          possible_duplicate: 0,
          created_at: at,
          updated_at: at,
        })
        .execute();
      await appendEvent(trx, { type: 'dispatch.created', campaignId: campaign.id, dispatchId: id, actor: ctx.actor, at, data: { recipient_id: n.recipient_id, kind: 'reminder', reminder_key: row.key, original_dispatch_id: n.id, letter_date: letterDate } });
      reminded.push(n.recipient_id);
    }
    const counts = { reminded: reminded.length, replied: repliedCount, not_sent: notSent };
    await trx.updateTable('reminders').set({ result: JSON.stringify(counts) }).where('id', '=', row.id).execute();
    await appendEvent(trx, { type: 'reminder.round', campaignId: campaign.id, actor: ctx.actor, at, data: { key: row.key, due_on: row.due_on, due_at: row.due_at, clock: now.toISOString(), letter_date: letterDate, ...counts } });
    return { reminded, replied: repliedCount, notSent };
  });
  if (!result) return { outcome: 'not-scheduled' };
  await enqueuePending(ctx.db, ctx.queues, campaign.id, ctx.actor);
  return { outcome: 'sent-to-render', ...result };
}

/** Rounds of a campaign as stored (for status and tests). */
export async function listReminderRounds(db: Db, campaignId: string): Promise<ReminderRow[]> {
  return db.selectFrom('reminders').selectAll().where('campaign_id', '=', campaignId).orderBy('due_at').execute();
}
