import { createHash } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { part } from '../ops/outage.ts';
import { createConnection, type RedisClient, type RedisHandle } from './redis.ts';

/**
 * Queue names, job payloads and job ids. Every queue shares cfg.QUEUE_PREFIX (a Redis Cluster
 * hash tag by default) so they can live in one cluster slot. Payloads carry ids only: no
 * personal data ever sits in Redis; workers read everything else from the store.
 */

export const QUEUE_NAMES = { render: 'render', send: 'send' } as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export const dispatchPayloadSchema = z
  .object({
    campaignId: z.string().regex(/^c[0-9a-z]+$/),
    dispatchId: z.string().min(1).max(200),
  })
  .strict();
/**
 * A render job carries a batch of dispatches of one campaign (cfg.RENDER_BATCH_SIZE): one job,
 * one transaction and one hand-over to the send queue per batch instead of per letter. A job of
 * one dispatch (`dispatchId`, as jobs were before batches) is still taken.
 */
export const renderBatchPayloadSchema = z
  .object({
    campaignId: z.string().regex(/^c[0-9a-z]+$/),
    dispatchIds: z.array(z.string().min(1).max(200)).min(1).max(500),
  })
  .strict();
export const renderPayloadSchema = z.union([dispatchPayloadSchema, renderBatchPayloadSchema]);
export type RenderPayload = z.infer<typeof renderPayloadSchema>;
export type SendPayload = z.infer<typeof dispatchPayloadSchema>;
export const sendPayloadSchema = dispatchPayloadSchema;

/** The dispatches a job is for, in order: a render batch's, or the one of any other render or send job. */
export function renderDispatchIds(payload: RenderPayload | SendPayload): string[] {
  return 'dispatchIds' in payload ? payload.dispatchIds : [payload.dispatchId];
}

/**
 * One piece of an id made safe for job ids, file names and Message-IDs: letters, digits,
 * '.', '_' and '-' stay; anything else (the ':' of 'org:EU') becomes ~HH. Injective, since '~'
 * itself is encoded.
 */
export function encodeIdPart(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9._-]/.test(c) ? c : `~${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/** `note-c4k9x2m7qd-FRA`, `note-c4k9x2m7qd-org~3AEU`: readable, no ':', never all digits. */
export function dispatchIdFor(campaignId: string, recipientId: string, kind: 'note' | 'reminder'): string {
  return `${kind}-${campaignId}-${encodeIdPart(recipientId)}`;
}

/**
 * The BullMQ job id of a dispatch's render or send job. BullMQ ignores an add whose id it
 * already holds, so enqueuing twice is harmless; resume and retry bump `round` to get fresh ids
 * (`note-c4k9x2m7qd-FRA-r2`). Render and send are different queues, so they share the id.
 */
export function jobIdFor(dispatchId: string, round = 1): string {
  const id = round > 1 ? `${dispatchId}-r${round}` : dispatchId;
  if (id.includes(':') || /^\d+$/.test(id)) throw new Error(`invalid job id ${id}`);
  return id;
}

/**
 * The job id of a render batch: its first dispatch, its size and a digest of all its members
 * (`note-c4k9x2m7qd-AFG-x25-3f9a0c1d2e`), so the same batch enqueued twice is one job and two
 * different batches never share an id. A batch of one keeps the dispatch's own job id.
 */
export function batchJobIdFor(dispatchIds: string[], round = 1): string {
  const first = dispatchIds[0];
  if (first === undefined) throw new Error('a render batch needs at least one dispatch');
  if (dispatchIds.length === 1) return jobIdFor(first, round);
  const digest = createHash('sha256').update(dispatchIds.join('\n')).digest('hex').slice(0, 10);
  return jobIdFor(`${first}-x${dispatchIds.length}-${digest}`, round);
}

/** Job options per queue: sends retry with exponential backoff; renders retry a little. */
export function jobOptions(cfg: Config, queue: QueueName): JobsOptions {
  const keep = { removeOnComplete: { age: 30 * 24 * 3600 }, removeOnFail: { age: 90 * 24 * 3600 } };
  if (queue === 'send') return { ...keep, attempts: cfg.SEND_ATTEMPTS, backoff: { type: 'exponential', delay: cfg.SEND_BACKOFF_MS } };
  return { ...keep, attempts: 3, backoff: { type: 'exponential', delay: 1000 } };
}

export type Queues = {
  /** Payloads: RenderPayload / SendPayload (checked with the zod schemas by the workers). */
  render: Queue;
  send: Queue;
  /** Dispatches per render job (cfg.RENDER_BATCH_SIZE). */
  renderBatchSize: number;
  /** The connection the queues share (also used for per-campaign rate counters). */
  connection: RedisClient;
  close(): Promise<void>;
};

/**
 * Producer handles for both queues on one connection. From the command line it fails fast when
 * Redis is away; inside a worker process (forWorker) it waits for Redis to come back.
 */
export function openQueues(cfg: Config, redis: RedisHandle, opts: { forWorker?: boolean } = {}): Queues {
  const connection = createConnection(redis, opts);
  const shared = { connection, prefix: cfg.QUEUE_PREFIX };
  const render = new Queue(QUEUE_NAMES.render, { ...shared, defaultJobOptions: jobOptions(cfg, 'render') });
  const send = new Queue(QUEUE_NAMES.send, { ...shared, defaultJobOptions: jobOptions(cfg, 'send') });
  // The connection's own listener counts the attempts; without one here BullMQ prints each error with its stack.
  for (const q of [render, send]) q.on('error', (err) => part('redis').report(err, { count: false }));
  return {
    render,
    send,
    renderBatchSize: cfg.RENDER_BATCH_SIZE,
    connection,
    async close() {
      await Promise.allSettled([render.close(), send.close()]);
      connection.disconnect();
    },
  };
}

/**
 * Adds render or send jobs for dispatches; ids make repeats no-ops. Send jobs are one per
 * dispatch; render jobs carry batches of `queues.renderBatchSize` dispatches of one campaign.
 */
export async function enqueueDispatches(
  queues: Queues,
  queue: QueueName,
  items: { campaignId: string; dispatchId: string }[],
  round: number,
): Promise<void> {
  const q = queue === 'render' ? queues.render : queues.send;
  const jobs = queue === 'render' ? renderJobs(items, queues.renderBatchSize, round) : items.map((it) => ({
    name: queue,
    data: { campaignId: it.campaignId, dispatchId: it.dispatchId } as SendPayload | RenderPayload,
    opts: { jobId: jobIdFor(it.dispatchId, round) },
  }));
  const only = jobs.length === 1 ? jobs[0] : undefined;
  if (only) {
    // One job (a render step handing its dispatch to send): a plain add, one script call,
    // without the MULTI pipeline addBulk builds (measured: about 0.3 ms of CPU per dispatch).
    await q.add(only.name, only.data, only.opts);
    return;
  }
  // In slices: one addBulk per few hundred keeps each Redis call small.
  for (let i = 0; i < jobs.length; i += 500) await q.addBulk(jobs.slice(i, i + 500));
}

/** Render jobs in batches of `size`, each of one campaign, in the order given. */
function renderJobs(items: { campaignId: string; dispatchId: string }[], size: number, round: number) {
  const jobs: { name: string; data: RenderPayload; opts: { jobId: string } }[] = [];
  let batch: string[] = [];
  let campaignId = '';
  const flush = () => {
    if (batch.length === 0) return;
    const data: RenderPayload = batch.length === 1 ? { campaignId, dispatchId: batch[0]! } : { campaignId, dispatchIds: batch };
    jobs.push({ name: 'render', data, opts: { jobId: batchJobIdFor(batch, round) } });
    batch = [];
  };
  for (const it of items) {
    if (it.campaignId !== campaignId || batch.length >= size) flush();
    campaignId = it.campaignId;
    batch.push(it.dispatchId);
  }
  flush();
  return jobs;
}
