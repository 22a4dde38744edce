import { DelayedError, WaitingError, Worker } from 'bullmq';
import type { DispatchContext } from '../src/campaigns/context.ts';
import { giveUpDispatch, processSend } from '../src/campaigns/process.ts';
import { campaignRateDelay } from '../src/campaigns/rate.ts';
import { QUEUE_NAMES, sendPayloadSchema, type SendPayload } from '../src/queue/queues.ts';
import type { RedisHandle } from '../src/queue/redis.ts';
import { startWorker } from './options.ts';

/**
 * Send worker: binds processSend to the BullMQ send queue. I/O-bound: concurrency from
 * SEND_CONCURRENCY; the global rate limit (SEND_RATE_PER_MINUTE) is BullMQ's limiter, which
 * holds across every worker on the queue; a campaign's own limit delays its jobs.
 */
export function startSendWorker(ctx: DispatchContext, redis: RedisHandle, opts: { concurrency?: number } = {}): Worker<SendPayload> {
  const worker = startWorker<SendPayload>(
    ctx,
    redis,
    QUEUE_NAMES.send,
    async (job, token, signal) => {
      const payload = sendPayloadSchema.parse(job.data);
      const wait = await campaignRateDelay(ctx, payload.campaignId);
      if (wait > 0 && token) {
        await job.moveToDelayed(Date.now() + wait, token);
        throw new DelayedError();
      }
      const outcome = await processSend(ctx, payload, { id: job.id!, attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1, signal });
      if (outcome === 'released') {
        // Back to the queue at once, no attempt spent; with Redis away it stays active until the
        // stalled-job check hands it back. Either way the next attempt resends it flagged.
        if (token) await job.moveToWait(token).catch(() => undefined);
        throw new WaitingError();
      }
      return outcome;
    },
    {
      concurrency: opts.concurrency ?? ctx.cfg.SEND_CONCURRENCY,
      ...(ctx.cfg.SEND_RATE_PER_MINUTE > 0 ? { limiter: { max: ctx.cfg.SEND_RATE_PER_MINUTE, duration: 60_000 } } : {}),
    },
  );
  worker.on('failed', (job, err) => {
    if (job?.finishedOn) void giveUpDispatch(ctx, job.data, err.message, 'send').catch((e) => ctx.log(`send ${job.id}: ${String(e)}`));
  });
  return worker;
}
