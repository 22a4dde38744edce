import { Worker, type Processor, type WorkerOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { DispatchContext } from '../src/campaigns/context.ts';
import { part } from '../src/ops/outage.ts';
import { withDeadline } from '../src/ops/stop.ts';
import { createConnection, type RedisClient, type RedisHandle } from '../src/queue/redis.ts';

/** What stopWorkers needs of a worker startWorker made: its connection and the jobs it is running. */
type Held = { connection: RedisClient; running: number; idle: (() => void)[]; stopping: AbortController };
const held = new WeakMap<Worker, Held>();

/**
 * A BullMQ Worker on one of Chancery's queues, with the options every worker shares. Its
 * connection (a Redis or a Redis Cluster: BullMQ builds only the former from options) is made
 * here and closed once the worker has closed, since BullMQ leaves a connection it is given open.
 * The lock decides how soon a job held by a worker that died is handed to another; stalls are
 * normal after a crash, so allow many before BullMQ gives up on a job.
 * The processor gets an abort signal (third argument), which stopWorkers aborts.
 */
export function startWorker<T>(ctx: DispatchContext, redis: RedisHandle, queue: string, processor: Processor<T>, opts: Partial<WorkerOptions>): Worker<T> {
  const connection = createConnection(redis, { forWorker: true });
  const h: Held = { connection, running: 0, idle: [], stopping: new AbortController() };
  // Each job's signal aborts with BullMQ's (cancelAllJobs) or with stopWorkers' own, which also
  // works once a forced close has let go of BullMQ's lock manager (Redis away).
  const counted: Processor<T> = async (job, token, signal) => {
    h.running++;
    const mine = new AbortController();
    const abort = () => mine.abort();
    h.stopping.signal.addEventListener('abort', abort);
    signal?.addEventListener('abort', abort);
    try {
      return await processor(job, token, mine.signal);
    } finally {
      h.stopping.signal.removeEventListener('abort', abort);
      signal?.removeEventListener('abort', abort);
      if (--h.running === 0) h.idle.splice(0).forEach((f) => f());
    }
  };
  const worker = new Worker<T>(queue, counted, {
    connection,
    prefix: ctx.cfg.QUEUE_PREFIX,
    lockDuration: ctx.cfg.WORKER_LOCK_MS,
    stalledInterval: ctx.cfg.WORKER_LOCK_MS,
    maxStalledCount: 20,
    autorun: true,
    ...opts,
  });
  held.set(worker, h);
  worker.once('closed', () => connection.disconnect());
  // Connection errors are the outage the log tells about once (src/ops/outage.ts); others keep their stack.
  worker.on('error', (err) => part('redis').report(err, { count: false }));
  return worker;
}

/** Resolves once none of the workers runs a processor, or after `ms`; says how many still run. */
async function idle(workers: Worker[], ms: number): Promise<number> {
  const running = () => workers.reduce((n, w) => n + (held.get(w)?.running ?? 0), 0);
  const all = Promise.all(
    workers.map((w) => {
      const h = held.get(w);
      return !h || h.running === 0 ? undefined : new Promise<void>((r) => h.idle.push(r));
    }),
  );
  await withDeadline(all, ms);
  return running();
}

/** After the grace, how long released jobs get to let go (a send closes its SMTP connection). */
const RELEASE_MS = 1_500;

/**
 * Stops workers (SIGTERM/SIGINT) in bounded time whatever is down. No new job is taken from the
 * first moment. Jobs in hand get `graceMs` to finish; then their abort signal fires and a send
 * lets go of its message (left in 'sending', resumed as after a crash, flagged). With Redis
 * answering, BullMQ records the jobs' ends and hands a released job back at once; with Redis
 * away its close would wait for Redis forever, so it is forced (a job in hand is then handed
 * back by the stalled-job check, as after a crash). The connections are closed in any case.
 */
export async function stopWorkers(workers: Worker[], opts: { graceMs: number; log: Logger }): Promise<void> {
  const closing = workers.map((w) => {
    const up = held.get(w)?.connection.status === 'ready';
    return w.close(!up);
  });
  let left = await idle(workers, opts.graceMs);
  if (left > 0) {
    opts.log.warn({ jobs: left }, `stopping: ${left} job(s) still running after ${opts.graceMs / 1000} s: releasing them`);
    for (const w of workers) held.get(w)?.stopping.abort();
    left = await idle(workers, RELEASE_MS);
    if (left > 0) opts.log.warn({ jobs: left }, `stopping: ${left} job(s) did not let go: left to the stalled-job check, as after a crash`);
  }
  // BullMQ's own close, bounded: it may wait on a Redis that is away.
  await withDeadline(Promise.allSettled(closing), RELEASE_MS);
  for (const w of workers) held.get(w)?.connection.disconnect();
}
