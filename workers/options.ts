import { Worker, type Processor, type WorkerOptions } from 'bullmq';
import type { DispatchContext } from '../src/campaigns/context.ts';
import { createConnection, type RedisHandle } from '../src/queue/redis.ts';

/**
 * A BullMQ Worker on one of Chancery's queues, with the options every worker shares. Its
 * connection (a Redis or a Redis Cluster: BullMQ builds only the former from options) is made
 * here and closed once the worker has closed, since BullMQ leaves a connection it is given open.
 * The lock decides how soon a job held by a worker that died is handed to another; stalls are
 * normal after a crash, so allow many before BullMQ gives up on a job.
 */
export function startWorker<T>(ctx: DispatchContext, redis: RedisHandle, queue: string, processor: Processor<T>, opts: Partial<WorkerOptions>): Worker<T> {
  const connection = createConnection(redis, { forWorker: true });
  const worker = new Worker<T>(queue, processor, {
    connection,
    prefix: ctx.cfg.QUEUE_PREFIX,
    lockDuration: ctx.cfg.WORKER_LOCK_MS,
    stalledInterval: ctx.cfg.WORKER_LOCK_MS,
    maxStalledCount: 20,
    autorun: true,
    ...opts,
  });
  worker.once('closed', () => connection.disconnect());
  return worker;
}
