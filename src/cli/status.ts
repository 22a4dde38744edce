import type { Command } from 'commander';
import { readinessChecks } from '../campaigns/context.ts';
import { readiness } from '../ops/health.ts';
import { handleForUrl, managedRedisStatus, redactUrl } from '../queue/redis.ts';
import { action } from './run.ts';
import { withDb } from './store.ts';

/**
 * `chancery status`: one line per part (store, Redis, SMTP) for a person at a terminal, each
 * probed now as /readyz does; exit 3 if one does not answer. Starts nothing: a managed Redis
 * that is not running is said so (commands start it when they need it).
 */
export function registerStatusCommands(program: Command): void {
  program
    .command('status')
    .description('whether the store, Redis and the SMTP relay answer, one line each (exit 3 if one does not)')
    .action(
      action(async () =>
        withDb(async (db, cfg) => {
          const managed = cfg.REDIS_URL ? undefined : await managedRedisStatus(cfg);
          const redisUrl = cfg.REDIS_URL ?? managed?.url;
          const redis = redisUrl ? handleForUrl(redisUrl, cfg.REDIS_CLUSTER) : undefined;
          const r = await readiness(readinessChecks({ cfg, db, redis }));
          const where: Record<string, string> = {
            store: cfg.DATABASE_URL ? redactUrl(cfg.DATABASE_URL) : `sqlite ${cfg.paths.db}`,
            redis: cfg.REDIS_URL ? redactUrl(cfg.REDIS_URL) : `managed, ${managed?.url ?? 'started when a command needs it'}`,
            smtp: cfg.SMTP_URL ? redactUrl(cfg.SMTP_URL) : `not configured: file outbox ${cfg.paths.outbox}`,
          };
          for (const name of ['store', 'redis', 'smtp']) {
            const state = r.parts[name] ?? (name === 'redis' ? 'not running' : '-');
            process.stdout.write(`${name.padEnd(6)} ${state.padEnd(12)} ${where[name]}\n`);
          }
          return r.ready ? 0 : 3;
        }),
      ),
    );
}
