import type { RedisOptions as BullRedisOptions, WorkerOptions } from 'bullmq';
import type { DispatchContext } from '../src/campaigns/context.ts';
import type { RedisHandle } from '../src/queue/redis.ts';

/**
 * Options both workers share. Connection options (not a connection): BullMQ opens and closes its
 * own. The lock decides how soon a job held by a worker that died is handed to another; stalls
 * are normal after a crash, so allow many before BullMQ gives up on a job.
 */
export function workerOptions(ctx: DispatchContext, redis: RedisHandle): WorkerOptions {
  return {
    connection: { ...redis.connectionOptions, maxRetriesPerRequest: null } as BullRedisOptions,
    prefix: ctx.cfg.QUEUE_PREFIX,
    lockDuration: ctx.cfg.WORKER_LOCK_MS,
    stalledInterval: ctx.cfg.WORKER_LOCK_MS,
    maxStalledCount: 20,
    autorun: true,
  };
}
