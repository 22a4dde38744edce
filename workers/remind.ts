import { setTimeout as sleep } from 'node:timers/promises';
import { DelayedError, Worker } from 'bullmq';
import { CHECKPOINT_JOB, installCheckpointScheduler, runScheduledCheckpoint } from '../src/audit/checkpoint-jobs.ts';
import type { DispatchContext, OpenedContext } from '../src/campaigns/context.ts';
import { storeClock, type Clock } from '../src/clock.ts';
import { installSweepScheduler, openRemindQueue, REMIND_QUEUE, remindPayloadSchema, runReminderRound, sweepReminders } from '../src/deadlines/jobs.ts';
import type { RedisHandle } from '../src/queue/redis.ts';
import { part } from '../src/ops/outage.ts';
import { startWorker } from './options.ts';
import { startRenderWorker } from './render.ts';
import { startSendWorker } from './send.ts';

/**
 * Remind worker: binds the reminder round and the sweep (src/deadlines/jobs.ts) to the BullMQ
 * 'remind' queue, and installs the periodic sweep; also the daily audit checkpoint
 * (src/audit/checkpoint-jobs.ts), which rides on this queue. A round is cheap (it creates reminder
 * dispatches and render jobs); the render and send workers do the letters.
 */
export function startRemindWorker(ctx: DispatchContext, redis: RedisHandle, opts: { clock?: Clock } = {}): Worker {
  const clock = opts.clock ?? storeClock(ctx.db);
  const queue = openRemindQueue(ctx.cfg, ctx.queues.connection);
  const worker = startWorker(
    ctx,
    redis,
    REMIND_QUEUE,
    async (job, token) => {
      if (job.name === 'sweep') return sweepReminders(ctx, queue, clock);
      if (job.name === CHECKPOINT_JOB) return runScheduledCheckpoint(ctx);
      const r = await runReminderRound(ctx, clock, remindPayloadSchema.parse(job.data));
      if (r.outcome === 'not-due' && token) {
        // The clock was moved back since the job was timed: wait again.
        await job.moveToDelayed(Date.now() + r.waitMs, token);
        throw new DelayedError();
      }
      if (r.outcome === 'sent-to-render') ctx.log(`reminder ${job.id}: ${r.reminded.length} reminder(s), ${r.replied} replied, ${r.notSent} not sent`);
      return r;
    },
    { concurrency: 1 },
  );
  worker.on('failed', (job, err) => ctx.log(`remind ${job?.id}: ${err.message}`));
  worker.on('closed', () => void queue.close().catch(() => undefined));
  void installSweepScheduler(ctx.cfg, queue)
    .then(() => sweepReminders(ctx, queue, clock))
    .catch((err: unknown) => part('redis').report(err, { count: false }));
  void installCheckpointScheduler(ctx.cfg, queue).catch((err: unknown) => part('redis').report(err, { count: false }));
  return worker;
}

/**
 * For the demo and tests: render, send and remind workers in this process until every reminder
 * round of the campaign due by the clock has run and every reminder dispatch it made is sent,
 * failed or cancelled. Starts with a sweep, so rounds made due by `clock set` run now.
 */
export async function runRemindersUntilIdle(opened: OpenedContext, campaignId: string, opts: { timeoutMs?: number; pollMs?: number } = {}): Promise<void> {
  const { ctx, redis } = opened;
  const clock = storeClock(ctx.db);
  const queue = openRemindQueue(ctx.cfg, ctx.queues.connection);
  const workers = [startRenderWorker(ctx, redis), startSendWorker(ctx, redis), startRemindWorker(ctx, redis, { clock })];
  try {
    await sweepReminders(ctx, queue, clock);
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    for (;;) {
      const now = (await clock.now()).toISOString();
      const due = await ctx.db.selectFrom('reminders').select('id').where('campaign_id', '=', campaignId).where('state', '=', 'scheduled').where('due_at', '<=', now).executeTakeFirst();
      const open = await ctx.db
        .selectFrom('dispatches')
        .select('id')
        .where('campaign_id', '=', campaignId)
        .where('kind', '=', 'reminder')
        .where('state', 'in', ['pending', 'queued', 'rendered', 'sending'])
        .executeTakeFirst();
      if (!due && !open) return;
      if (Date.now() > deadline) throw new Error(`reminders of campaign ${campaignId} still running after ${opts.timeoutMs ?? 120_000} ms`);
      await sleep(opts.pollMs ?? 100);
    }
  } finally {
    await Promise.allSettled(workers.map((w) => w.close()));
    await queue.close().catch(() => undefined);
  }
}
