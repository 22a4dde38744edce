import type { Config } from '../config.ts';
import type { Mailer } from '../mail/index.ts';
import type { Queues } from '../queue/queues.ts';
import type { Db } from '../store/db.ts';
import { createMailer } from '../mail/index.ts';
import { ensureRegistryLoaded } from '../registry/index.ts';
import { openQueues } from '../queue/queues.ts';
import { ensureRedis, type RedisHandle } from '../queue/redis.ts';
import { openStore } from '../store/db.ts';

/** What the render and send steps need; built once per process (CLI or worker). */
export type DispatchContext = {
  cfg: Config;
  db: Db;
  queues: Queues;
  /** Needed by the send step and test-send only. */
  mailer?: Mailer;
  /** Audit actor for what the workers do. */
  actor: string;
  log: (line: string) => void;
  /**
   * Told when a campaign ends (state done), from inside the transaction that ends it: must not
   * wait on the store there. The workers set it to take an audit checkpoint (src/audit).
   */
  onCampaignDone?: (campaignId: string) => void;
};

/** The BullMQ job facts a step needs: its id and where it stands in its attempts. */
export type JobInfo = { id: string; attemptsMade: number; attempts: number };

export type OpenedContext = { ctx: DispatchContext; redis: RedisHandle; close(): Promise<void> };

/**
 * Opens what a command or worker process needs: the store (registry loaded), Redis (managed or
 * REDIS_URL; never stopped here, other processes may use it), the queues and, if asked, a mailer.
 */
export async function openDispatchContext(
  cfg: Config,
  opts: { mailer?: boolean; forWorker?: boolean; actor: string; log?: (line: string) => void },
): Promise<OpenedContext> {
  const db = await openStore(cfg);
  try {
    await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);
    const redis = await ensureRedis(cfg);
    const queues = openQueues(cfg, redis, { forWorker: opts.forWorker });
    const mailer = opts.mailer ? createMailer(cfg) : undefined;
    const ctx: DispatchContext = { cfg, db, queues, mailer, actor: opts.actor, log: opts.log ?? ((line) => process.stderr.write(`${line}\n`)) };
    return {
      ctx,
      redis,
      async close() {
        await mailer?.close();
        await queues.close();
        await db.destroy();
      },
    };
  } catch (err) {
    await db.destroy();
    throw err;
  }
}
