import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { InfrastructureError } from '../errors.ts';
import { ensureRedis, managedRedisStatus, redactUrl, stopManagedRedis } from '../queue/redis.ts';
import { action } from './run.ts';

/** `chancery redis status|start|stop`: the redis-server Chancery manages in CHANCERY_HOME/redis. */
export function registerRedisCommands(program: Command): void {
  const redis = program.command('redis').description('the Redis the queues use (managed in var/redis unless REDIS_URL is set)');

  redis
    .command('status')
    .description('say whether the Redis is running and where')
    .option('--json', 'print as JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const cfg = loadConfig();
        if (cfg.REDIS_URL) {
          // A given Redis: check it answers, never start it.
          let reachable = true;
          let problem = '';
          try {
            await ensureRedis(cfg);
          } catch (err) {
            reachable = false;
            problem = err instanceof Error ? err.message : String(err);
          }
          const url = redactUrl(cfg.REDIS_URL);
          if (opts.json) process.stdout.write(`${JSON.stringify({ managed: false, url, running: reachable })}\n`);
          else process.stdout.write(reachable ? `REDIS_URL ${url}: answering (not managed by Chancery)\n` : `${problem}\n`);
          return reachable ? 0 : 3;
        }
        const s = await managedRedisStatus(cfg);
        if (opts.json) process.stdout.write(`${JSON.stringify({ managed: true, ...s })}\n`);
        else if (s.running) process.stdout.write(`managed redis-server running at ${s.url} (pid ${s.pid ?? '?'}, data in ${s.dir})\n`);
        else process.stdout.write(`managed redis-server not running (data in ${s.dir})\n`);
        return 0;
      }),
    );

  redis
    .command('start')
    .description('start the managed redis-server, or reuse the running one')
    .action(
      action(async () => {
        const cfg = loadConfig();
        const h = await ensureRedis(cfg);
        if (!h.managed) process.stdout.write(`REDIS_URL ${redactUrl(h.url)}: answering (not managed by Chancery)\n`);
        else process.stdout.write(`managed redis-server ${h.started ? 'started' : 'already running'} at ${h.url}\n`);
      }),
    );

  redis
    .command('stop')
    .description('cleanly stop the managed redis-server (its data stays in var/redis)')
    .action(
      action(async () => {
        const cfg = loadConfig();
        if (cfg.REDIS_URL) throw new InfrastructureError(`REDIS_URL is set (${redactUrl(cfg.REDIS_URL)}): Chancery does not stop a Redis it does not manage`);
        const stopped = await stopManagedRedis(cfg);
        process.stdout.write(stopped ? 'managed redis-server stopped\n' : 'managed redis-server was not running\n');
      }),
    );
}
