import type { Config } from '../config.ts';
import type { Mailer } from '../mail/index.ts';
import type { Queues } from '../queue/queues.ts';
import type { Db } from '../store/db.ts';
import { sql } from 'kysely';
import { createMailer, probeSmtp } from '../mail/index.ts';
import type { Check } from '../ops/health.ts';
import { ensureRegistryLoaded } from '../registry/index.ts';
import { openQueues } from '../queue/queues.ts';
import { ensureRedis, pingRedis, type RedisHandle } from '../queue/redis.ts';
import { openStore } from '../store/db.ts';
import { logger } from '../ops/log.ts';

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

/**
 * The BullMQ job facts a step needs: its id, where it stands in its attempts, and the signal
 * BullMQ aborts when the process stops and gives up waiting for the job (a send then lets go).
 */
export type JobInfo = { id: string; attemptsMade: number; attempts: number; signal?: AbortSignal };

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
    const ctx: DispatchContext = { cfg, db, queues, mailer, actor: opts.actor, log: opts.log ?? ((line) => logger.info(line)) };
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

/**
 * What /readyz and `chancery status` probe: the store, Redis and, where SMTP_URL is set, the SMTP
 * relay, each on a connection of its own. A store of another kind (DATABASE_URL) is probed the
 * same way, through Kysely.
 */
export function readinessChecks(parts: { cfg: Config; db: Db; redis?: RedisHandle }, timeoutMs = 2_000): Check[] {
  const { cfg, db, redis } = parts;
  const smtpUrl = cfg.SMTP_URL;
  return [
    { name: 'store', probe: () => sql`select 1`.execute(db) },
    ...(redis ? [{ name: 'redis', probe: () => pingRedis(redis, timeoutMs) }] : []),
    ...(smtpUrl ? [{ name: 'smtp', probe: () => probeSmtp(smtpUrl, timeoutMs) }] : []),
  ];
}
