import { Queue } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../config.ts';
import type { DispatchContext } from '../campaigns/context.ts';
import { enqueuePending } from '../campaigns/lifecycle.ts';
import { getCampaign } from '../campaigns/repo.ts';
import type { RedisClient } from '../queue/redis.ts';
import { zonedDate, type Clock } from '../clock.ts';
import type { Db } from '../store/db.ts';
import { appendEvent } from '../store/events.ts';
import { nowIso, writeTx } from '../store/tx.ts';
import { reminderDispatchId } from './reminder.ts';
import type { ReminderRow } from './schedule.ts';
import { part } from '../ops/outage.ts';

/**
 * Reminder rounds on BullMQ: queue 'remind' under QUEUE_PREFIX.
 * - One delayed job per scheduled round, id `remind-<campaign>-<key>-<due ms>` (deterministic;
 *   a new due date gives a new id), delay = due_at - clock.now().
 * - A job scheduler (upsertJobScheduler, every REMIND_SWEEP_MS) runs the sweep: it re-creates
 *   any job missing for a scheduled round, promotes rounds that are due by the clock, moves the
 *   delay of the others to match the clock, and removes jobs of rounds no longer scheduled.
 *   `chancery clock set` runs the same sweep at once.
 * - The store decides: a job delivered twice, late, or for a round cancelled or moved does nothing.
 */

export const REMIND_QUEUE = 'remind';
export const SWEEP_SCHEDULER_ID = 'reminder-sweep';

export const remindPayloadSchema = z.object({ campaignId: z.string(), reminderId: z.string(), dueAt: z.string() }).strict();
export type RemindPayload = z.infer<typeof remindPayloadSchema>;

export function openRemindQueue(cfg: Config, connection: RedisClient): Queue {
  const queue = new Queue(REMIND_QUEUE, {
    connection,
    prefix: cfg.QUEUE_PREFIX,
    defaultJobOptions: { removeOnComplete: { age: 30 * 24 * 3600 }, removeOnFail: { age: 90 * 24 * 3600 }, attempts: 5, backoff: { type: 'exponential', delay: 5000 } },
  });
  queue.on('error', (err) => part('redis').report(err, { count: false }));
  return queue;
}

export function reminderJobId(row: Pick<ReminderRow, 'id' | 'due_at'>): string {
  return `remind-${row.id}-${Date.parse(row.due_at)}`;
}

/** Installs (or updates) the periodic sweep. Idempotent: every worker start calls it. */
export async function installSweepScheduler(cfg: Config, queue: Queue): Promise<void> {
  await queue.upsertJobScheduler(SWEEP_SCHEDULER_ID, { every: cfg.REMIND_SWEEP_MS }, { name: 'sweep', data: {}, opts: { removeOnComplete: 100, removeOnFail: 100 } });
}

export type SweepReport = { scheduled: number; added: number; promoted: number; moved: number; removed: number; requeued: number };

/**
 * Makes Redis match the store (see above). Also re-enqueues reminder dispatches left 'pending' by
 * a crash between their creation and their render job (job ids make that harmless otherwise).
 */
export async function sweepReminders(ctx: Pick<DispatchContext, 'db' | 'queues' | 'actor'>, queue: Queue, clock: Clock): Promise<SweepReport> {
  const report: SweepReport = { scheduled: 0, added: 0, promoted: 0, moved: 0, removed: 0, requeued: 0 };
  const rows = await ctx.db.selectFrom('reminders').selectAll().where('state', '=', 'scheduled').orderBy('due_at').execute();
  const wanted = new Set<string>();
  const now = (await clock.now()).getTime();
  for (const row of rows) {
    report.scheduled++;
    const id = reminderJobId(row);
    wanted.add(id);
    const delay = Math.max(0, Date.parse(row.due_at) - now);
    let job = await queue.getJob(id);
    const state = job ? await job.getState() : 'missing';
    if (job && (state === 'completed' || state === 'failed' || state === 'unknown')) {
      // Ran without completing the round (campaign paused, an error): run it again.
      await job.remove().catch(() => undefined);
      job = undefined;
    }
    if (!job) {
      const payload: RemindPayload = { campaignId: row.campaign_id, reminderId: row.id, dueAt: row.due_at };
      await queue.add('reminder', payload, { jobId: id, delay });
      report.added++;
      continue;
    }
    if (state === 'delayed') {
      try {
        if (delay === 0) {
          await job.promote();
          report.promoted++;
        } else if (Math.abs(job.timestamp + job.delay - (Date.now() + delay)) > 1000) {
          await job.changeDelay(delay);
          report.moved++;
        }
      } catch {
        // Taken by a worker meanwhile: it decides from the store.
      }
    }
  }
  // Jobs of rounds moved, done or cancelled.
  for (const job of await queue.getJobs(['delayed', 'waiting'])) {
    if (job?.name === 'reminder' && job.id && !wanted.has(job.id)) {
      await job.remove().catch(() => undefined);
      report.removed++;
    }
  }
  // Reminder dispatches created but never enqueued (crash between the two).
  const stuck = await ctx.db.selectFrom('dispatches').select('campaign_id').distinct().where('kind', '=', 'reminder').where('state', '=', 'pending').execute();
  for (const s of stuck) report.requeued += await enqueuePending(ctx.db, ctx.queues, s.campaign_id, ctx.actor);
  return report;
}

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
