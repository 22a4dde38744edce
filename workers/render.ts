import { Worker } from 'bullmq';
import type { DispatchContext } from '../src/campaigns/context.ts';
import { giveUpDispatch, processRender } from '../src/campaigns/process.ts';
import { QUEUE_NAMES, renderPayloadSchema, type RenderPayload } from '../src/queue/queues.ts';
import type { RedisHandle } from '../src/queue/redis.ts';
import { startWorker } from './options.ts';

/**
 * Render worker: binds processRender to the BullMQ render queue. CPU-bound (pdfkit is
 * synchronous): scale it with one `chancery worker --queues render` process per core.
 */
export function startRenderWorker(ctx: DispatchContext, redis: RedisHandle, opts: { concurrency?: number } = {}): Worker<RenderPayload> {
  const worker = startWorker<RenderPayload>(
    ctx,
    redis,
    QUEUE_NAMES.render,
    async (job) => processRender(ctx, renderPayloadSchema.parse(job.data), { id: job.id!, attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1 }),
    { concurrency: opts.concurrency ?? ctx.cfg.RENDER_CONCURRENCY },
  );
  worker.on('failed', (job, err) => {
    if (job?.finishedOn) void giveUpDispatch(ctx, job.data, err.message, 'render').catch((e) => ctx.log(`render ${job.id}: ${String(e)}`));
  });
  return worker;
}
