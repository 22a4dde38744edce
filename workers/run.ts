import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'bullmq';
import type { Logger } from 'pino';
import { checkpointOnCampaignEnd } from '../src/audit/checkpoint-jobs.ts';
import { openDispatchContext, readinessChecks } from '../src/campaigns/context.ts';
import { workerActor } from '../src/campaigns/repo.ts';
import { loadConfig } from '../src/config.ts';
import { InfrastructureError, UsageError } from '../src/errors.ts';
import { startRenderWorker } from './render.ts';
import { startSendWorker } from './send.ts';
import { startRemindWorker } from './remind.ts';
import { keepMemoryFlat } from './memory.ts';
import { stopWorkers } from './options.ts';
import { startHealthServer } from '../src/ops/health.ts';
import { componentLogger } from '../src/ops/log.ts';
import { part } from '../src/ops/outage.ts';
import { onStopSignal, stopAndExit } from '../src/ops/stop.ts';

export const WORKER_QUEUES = ['render', 'send', 'remind'] as const;
export type WorkerQueue = (typeof WORKER_QUEUES)[number];

export function parseQueues(value: string): WorkerQueue[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!(WORKER_QUEUES as readonly string[]).includes(n)) throw new UsageError(`--queues: unknown queue "${n}" (known: ${WORKER_QUEUES.join(', ')})`);
  if (names.length === 0) throw new UsageError('--queues: name at least one queue');
  return [...new Set(names)] as WorkerQueue[];
}

/**
 * A worker process (`chancery worker`): opens the store, Redis and the mailer, starts the chosen
 * workers, and on SIGTERM/SIGINT stops in bounded time whatever is down (stopWorkers: no new
 * job, jobs in hand finish or are released), closes the connections and exits 0.
 * healthPort: /healthz and /readyz on that port (src/ops/health.ts).
 */
export async function runWorkerProcess(opts: { queues: WorkerQueue[]; concurrency?: number; healthPort?: number; healthHost?: string }): Promise<never> {
  const cfg = loadConfig();
  const log = componentLogger('worker');
  const stop = onStopSignal(log);
  const actor = workerActor();
  const opened = await openWaitingForRedis(cfg, { mailer: opts.queues.includes('send'), forWorker: true, actor }, log, stop.signal);
  if (!opened) return stopAndExit(log, []);
  const { ctx, redis } = opened;
  let checkpoints: ReturnType<typeof checkpointOnCampaignEnd>;
  try {
    checkpoints = checkpointOnCampaignEnd(ctx);
  } catch (err) {
    await opened.close();
    throw err;
  }
  const workers: Worker[] = [];
  const niced = opts.queues.every((q) => q === 'render') ? lowerPriority(cfg.RENDER_WORKER_NICE) : 0;
  if (opts.queues.includes('render')) workers.push(startRenderWorker(ctx, redis, { concurrency: opts.concurrency ?? cfg.RENDER_CONCURRENCY }));
  if (opts.queues.includes('send')) workers.push(startSendWorker(ctx, redis, { concurrency: opts.concurrency ?? cfg.SEND_CONCURRENCY }));
  if (opts.queues.includes('remind')) workers.push(startRemindWorker(ctx, redis));
  keepMemoryFlat(workers, { headroom: cfg.WORKER_MEMORY_HEADROOM });
  const health = opts.healthPort !== undefined ? await startHealthServer(opts.healthPort, opts.healthHost ?? '127.0.0.1', readinessChecks({ cfg, db: ctx.db, redis })) : undefined;
  await Promise.race([Promise.all(workers.map((w) => w.waitUntilReady())), stop.received]);
  if (!stop.signal.aborted) {
    const desc = workers.map((w) => `${w.name} (concurrency ${w.concurrency})`).join(', ');
    log.info(
      { queues: opts.queues, redis: redis.managed ? 'managed' : 'given', mail: ctx.mailer?.kind ?? 'none', ...(health ? { health_port: health.port } : {}) },
      `chancery worker ${process.pid} ready: ${desc}; redis ${redis.managed ? 'managed' : 'given'}; mail ${ctx.mailer?.kind ?? 'none'}${niced ? `; nice ${niced}` : ''}${health ? `; health on ${opts.healthHost ?? '127.0.0.1'}:${health.port}` : ''}`,
    );
  }
  await stop.received;
  return stopAndExit(log, [
    { name: 'workers', run: () => stopWorkers(workers, { graceMs: cfg.STOP_GRACE_MS, log }), ms: cfg.STOP_GRACE_MS + 3_500 },
    { name: 'audit checkpoint', run: () => checkpoints.close() },
    { name: 'health server', run: async () => health?.close() },
    { name: 'store, queues and mail', run: () => opened.close() },
  ]);
}

/** Lowers this process's CPU priority by `by` (RENDER_WORKER_NICE); returns its nice value after. */
function lowerPriority(by: number): number {
  if (by === 0) return 0;
  const now = os.getPriority();
  os.setPriority(Math.min(19, now + by)); // lowering one's own priority needs no privilege
  return os.getPriority();
}

/**
 * A worker started while the given Redis (REDIS_URL) is away waits for it, as a running worker
 * does, instead of exiting (producers on the command line fail fast with exit 3 instead).
 */
async function openWaitingForRedis(cfg: ReturnType<typeof loadConfig>, opts: Parameters<typeof openDispatchContext>[1], log: Logger, stopping: AbortSignal) {
  for (let attempt = 1; !stopping.aborted; attempt++) {
    try {
      return await openDispatchContext(cfg, opts);
    } catch (err) {
      if (!(err instanceof InfrastructureError) || !cfg.REDIS_URL || !/unreachable/.test(err.message)) throw err;
      part('redis').report(err);
      if (attempt === 1) log.info(`chancery worker ${process.pid}: waiting for Redis`);
      await sleep(Math.min(500 * attempt, 5_000), undefined, { signal: stopping }).catch(() => undefined);
    }
  }
  return undefined;
}

export type RunProgress = { total: number; sent: number; failed: number; cancelled: number; open: number; campaignState: string; reason: string | null };

/**
 * `campaign send` on one machine: runs the render and send workers in this process until every
 * dispatch of the campaign is sent, failed or cancelled, or the campaign is paused; then closes
 * the workers (jobs in hand finish first). Progress is read from the store, the only truth.
 */
export async function runUntilDone(
  opened: Awaited<ReturnType<typeof openDispatchContext>>,
  campaignId: string,
  opts: { renderConcurrency?: number; sendConcurrency?: number; onProgress?: (p: RunProgress) => void; pollMs?: number; signal?: AbortSignal } = {},
): Promise<RunProgress> {
  const { ctx, redis } = opened;
  const checkpoints = checkpointOnCampaignEnd(ctx);
  const workers = [
    startRenderWorker(ctx, redis, { concurrency: opts.renderConcurrency ?? ctx.cfg.RENDER_CONCURRENCY }),
    startSendWorker(ctx, redis, { concurrency: opts.sendConcurrency ?? ctx.cfg.SEND_CONCURRENCY }),
  ];
  try {
    for (;;) {
      const p = await progressOf(ctx, campaignId);
      opts.onProgress?.(p);
      if (p.open === 0) return p;
      if (p.campaignState === 'paused') return p;
      if (p.campaignState === 'cancelled' && p.open === 0) return p;
      // Interrupted (Ctrl-C): stop here; jobs in hand finish below, the rest stay queued.
      if (opts.signal?.aborted) return p;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
    }
  } finally {
    // Stopped by a signal: bounded, whatever is down; otherwise every job has ended already.
    if (opts.signal?.aborted) await stopWorkers(workers, { graceMs: ctx.cfg.STOP_GRACE_MS, log: componentLogger('send') });
    else await Promise.allSettled(workers.map((w) => w.close()));
    await checkpoints.close();
  }
}

export async function progressOf(ctx: { db: import('../src/store/db.ts').Db }, campaignId: string): Promise<RunProgress> {
  const c = await ctx.db.selectFrom('campaigns').select(['state', 'state_reason']).where('id', '=', campaignId).executeTakeFirstOrThrow();
  const rows = await ctx.db.selectFrom('dispatches').select(['state']).select((eb) => eb.fn.countAll<number>().as('n')).where('campaign_id', '=', campaignId).groupBy('state').execute();
  const by = Object.fromEntries(rows.map((r) => [r.state, Number(r.n)])) as Record<string, number>;
  const total = rows.reduce((a, r) => a + Number(r.n), 0);
  const sent = by.sent ?? 0;
  const failed = by.failed ?? 0;
  const cancelled = by.cancelled ?? 0;
  return { total, sent, failed, cancelled, open: total - sent - failed - cancelled, campaignState: c.state, reason: c.state_reason };
}
