import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type Processor, type WorkerOptions } from 'bullmq';
import { sql } from 'kysely';
import type { DispatchContext } from '../src/campaigns/context.ts';
import { createConnection, type RedisHandle } from '../src/queue/redis.ts';
import { isConnectionLoss } from '../src/store/postgres.ts';

/**
 * A BullMQ Worker on one of Chancery's queues, with the options every worker shares. Its
 * connection (a Redis or a Redis Cluster: BullMQ builds only the former from options) is made
 * here and closed once the worker has closed, since BullMQ leaves a connection it is given open.
 * The lock decides how soon a job held by a worker that died is handed to another; stalls are
 * normal after a crash, so allow many before BullMQ gives up on a job.
 */
export function startWorker<T>(ctx: DispatchContext, redis: RedisHandle, queue: string, processor: Processor<T>, opts: Partial<WorkerOptions>): Worker<T> {
  const connection = createConnection(redis, { forWorker: true });
  const worker = new Worker<T>(queue, waitingForStore(ctx, queue, processor), {
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

/**
 * The processor, run again once the store is back when it lost its PostgreSQL connection (a
 * restart or failover): an outage is infrastructure, not the job's fault, so it must not use up
 * the job's attempts and end with the dispatch marked failed. BullMQ keeps renewing the job's lock
 * meanwhile (Redis is up), so no other worker takes it. Running the step again is safe: each step
 * claims in the store, and a send found 'sending' under this job is resent flagged as a possible
 * duplicate under the same Message-ID (src/campaigns/process.ts).
 */
function waitingForStore<T>(ctx: DispatchContext, queue: string, processor: Processor<T>): Processor<T> {
  return async (job, token, signal) => {
    for (;;) {
      try {
        return await processor(job, token, signal);
      } catch (err) {
        if (!isConnectionLoss(err)) throw err;
        ctx.log(`${queue} ${job.id}: store connection lost (${(err as Error).message}); waiting for it, then again`);
        for (let attempt = 1; ; attempt++) {
          await sleep(Math.min(200 * attempt, 2_000));
          const back = await sql`select 1`.execute(ctx.db).then(() => true, (e: unknown) => (isConnectionLoss(e) ? false : Promise.reject(e)));
          if (back) break;
        }
      }
    }
  };
}
