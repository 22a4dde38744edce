import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Worker } from 'bullmq';
import { checkpointOnCampaignEnd } from '../audit/checkpoint-jobs.ts';
import { openDispatchContext, type OpenedContext } from '../campaigns/context.ts';
import { workerActor } from '../campaigns/repo.ts';
import type { Config } from '../config.ts';
import type { Db } from '../store/db.ts';
import type { Queues } from '../queue/queues.ts';
import type { RedisHandle } from '../queue/redis.ts';
import { startRenderWorker } from '../../workers/render.ts';
import { startSendWorker } from '../../workers/send.ts';
import { startRemindWorker } from '../../workers/remind.ts';
import { stopWorkers } from '../../workers/options.ts';
import { componentLogger } from '../ops/log.ts';
import { STOP_STEP_MS, withDeadline } from '../ops/stop.ts';

/**
 * What the web console runs on: the same store, queues and (optionally) workers as the command
 * line. With inProcessWorkers the server also runs a render, a send and a remind worker, as
 * `chancery worker` would, so "Send" in the browser sends without anything else running; any
 * `chancery worker` processes started beside it share the queues (the claim in the store
 * keeps every recipient to one message). Without it the server only enqueues.
 */
export type WebRuntime = {
  cfg: Config;
  db: Db;
  queues: Queues;
  redis: RedisHandle;
  inProcessWorkers: boolean;
  /** Stops the workers (bounded, whatever is down: workers/options.ts stopWorkers), then closes the queues and store. */
  close(): Promise<void>;
};

export async function openWebRuntime(cfg: Config, opts: { workers: boolean; log?: (line: string) => void }): Promise<WebRuntime> {
  const opened: OpenedContext = await openDispatchContext(cfg, { mailer: opts.workers, actor: workerActor(), log: opts.log });
  const workers: Worker[] = [];
  let checkpoints: ReturnType<typeof checkpointOnCampaignEnd> | undefined;
  if (opts.workers) {
    try {
      checkpoints = checkpointOnCampaignEnd(opened.ctx);
    } catch (err) {
      await opened.close();
      throw err;
    }
    workers.push(startRenderWorker(opened.ctx, opened.redis), startSendWorker(opened.ctx, opened.redis), startRemindWorker(opened.ctx, opened.redis));
    await Promise.all(workers.map((w) => w.waitUntilReady()));
  }
  return {
    cfg,
    db: opened.ctx.db,
    queues: opened.ctx.queues,
    redis: opened.redis,
    inProcessWorkers: opts.workers,
    async close() {
      await stopWorkers(workers, { graceMs: cfg.STOP_GRACE_MS, log: componentLogger('serve') });
      await withDeadline(
        (async () => {
          await checkpoints?.close();
          await opened.close();
        })(),
        STOP_STEP_MS,
      );
    },
  };
}

/**
 * The key that signs the CSRF cookie and binds tokens to a session: <home>/web-secret, made
 * once (mode 0600) and kept, so restarting the server does not void the forms open in browsers.
 */
export function loadWebSecret(cfg: Config): Buffer {
  const file = path.join(cfg.paths.home, 'web-secret');
  fs.mkdirSync(cfg.paths.home, { recursive: true });
  try {
    fs.writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const hex = fs.readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${file}: not a 64-digit hex key; delete it to make a new one`);
  return Buffer.from(hex, 'hex');
}
