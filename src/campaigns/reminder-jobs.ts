import { Queue } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../config.ts';
import type { Clock } from '../clock.ts';
import type { RedisClient } from '../queue/redis.ts';
import type { DispatchContext } from './context.ts';
import { enqueuePending } from './enqueue.ts';
import type { ReminderRow } from './reminder-schedule.ts';

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
  return new Queue(REMIND_QUEUE, {
    connection,
    prefix: cfg.QUEUE_PREFIX,
    defaultJobOptions: { removeOnComplete: { age: 30 * 24 * 3600 }, removeOnFail: { age: 90 * 24 * 3600 }, attempts: 5, backoff: { type: 'exponential', delay: 5000 } },
  });
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
