import type { Queue } from 'bullmq';
import type { Config } from '../config.ts';
import type { Db } from '../store/db.ts';
import { loadSigningKey, takeCheckpoint, type Checkpoint } from './checkpoint.ts';

/**
 * The worker's checkpoints (./checkpoint.ts), only when AUDIT_SIGNING_KEY_FILE is set:
 * - when a campaign ends: completeIfDone (src/campaigns/process.ts) calls the context's
 *   onCampaignDone, set here;
 * - once a day: a BullMQ job scheduler on the remind queue (workers/remind.ts runs the job).
 */

export const CHECKPOINT_SCHEDULER_ID = 'audit-checkpoint-daily';
export const CHECKPOINT_JOB = 'audit-checkpoint';

type CheckpointContext = { cfg: Config; db: Db; log: (line: string) => void; onCampaignDone?: (campaignId: string) => void };

/**
 * Sets ctx.onCampaignDone to take a checkpoint after each campaign that ends, when a key is set
 * (read now: a bad key stops the worker at start, not at a campaign's end). close() waits for the
 * checkpoints under way; call it before closing the store.
 */
export function checkpointOnCampaignEnd(ctx: CheckpointContext): { close(): Promise<void> } {
  if (!ctx.cfg.AUDIT_SIGNING_KEY_FILE) return { close: async () => undefined };
  const key = loadSigningKey(ctx.cfg.AUDIT_SIGNING_KEY_FILE);
  let pending: Promise<void> = Promise.resolve();
  ctx.onCampaignDone = (campaignId) => {
    // Called inside the transaction that completes the campaign; takeCheckpoint reads the head
    // in a write transaction of its own, so after that one. One at a time, in order.
    pending = pending.then(() =>
      takeCheckpoint(ctx.db, key, ctx.cfg.paths.checkpoints).then(
        (cp) => ctx.log(`audit checkpoint: campaign ${campaignId} done; ${cp.count} events, head ${cp.head.slice(0, 12)}… signed into ${ctx.cfg.paths.checkpoints}`),
        (err: unknown) => ctx.log(`audit checkpoint after campaign ${campaignId}: ${err instanceof Error ? err.message : String(err)}`),
      ),
    );
  };
  return { close: () => pending };
}

/** Installs the daily checkpoint (00:05 at the duty station) when a key is set, and removes it when not. Idempotent. */
export async function installCheckpointScheduler(cfg: Config, queue: Queue): Promise<void> {
  if (!cfg.AUDIT_SIGNING_KEY_FILE) {
    await queue.removeJobScheduler(CHECKPOINT_SCHEDULER_ID);
    return;
  }
  await queue.upsertJobScheduler(CHECKPOINT_SCHEDULER_ID, { pattern: '5 0 * * *', tz: cfg.DUTY_STATION_TZ }, { name: CHECKPOINT_JOB, data: {}, opts: { removeOnComplete: 100, removeOnFail: 100 } });
}

/** The daily job: a checkpoint with the key as configured now (none set: nothing). */
export async function runScheduledCheckpoint(ctx: Omit<CheckpointContext, 'onCampaignDone'>): Promise<Checkpoint | undefined> {
  if (!ctx.cfg.AUDIT_SIGNING_KEY_FILE) return undefined;
  const cp = await takeCheckpoint(ctx.db, loadSigningKey(ctx.cfg.AUDIT_SIGNING_KEY_FILE), ctx.cfg.paths.checkpoints);
  ctx.log(`audit checkpoint (daily): ${cp.count} events, head ${cp.head.slice(0, 12)}… signed into ${ctx.cfg.paths.checkpoints}`);
  return cp;
}
