import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { InfrastructureError, UsageError } from '../errors.ts';
import { loadWebSecret, openWebRuntime } from '../web/context.ts';
import { buildServer, parseTrustProxy } from '../web/server.ts';
import { action } from './run.ts';

/**
 * `chancery serve`: the web console. By default the server also runs a render and a send
 * worker in its own process (so Send in the browser sends with nothing else running);
 * --no-workers only enqueues, for `chancery worker` processes elsewhere (large campaigns:
 * rendering is CPU-bound and would slow the pages). SIGTERM/SIGINT: stop accepting, finish the
 * requests and the jobs in hand, close Redis connections and the store, exit 0.
 */
export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('the web console (Fastify): campaigns, letters, registry, templates, users, queues')
    .option('--port <port>', 'TCP port', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--no-workers', 'do not run render/send workers in this process (chancery worker does)')
    .option('--trust-proxy <proxies>', "behind reverse proxies: their addresses or CIDRs (10.0.0.1,10.1.0.0/16), or how many there are (1); their X-Forwarded-* headers are believed")
    .action(
      action(async (opts: { port: string; host: string; workers: boolean; trustProxy?: string }) => {
        if (!/^\d{1,5}$/.test(opts.port) || Number(opts.port) > 65535) throw new UsageError(`--port: "${opts.port}" is not a port number`);
        const trustProxy = opts.trustProxy === undefined ? undefined : parseTrustProxy(opts.trustProxy);
        const cfg = loadConfig();
        const runtime = await openWebRuntime(cfg, { workers: opts.workers });
        const app = await buildServer({
          runtime,
          secret: loadWebSecret(cfg),
          trustProxy,
          logger: {
            level: process.env.LOG_LEVEL ?? 'info',
            // Never in the log: cookies, tokens, passwords (bodies are not logged at all).
            redact: ['req.headers.cookie', 'req.headers.authorization', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]'],
          },
        });
        try {
          await app.listen({ port: Number(opts.port), host: opts.host });
        } catch (err) {
          await app.close().catch(() => undefined);
          await runtime.close();
          throw new InfrastructureError(`serve: cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`);
        }
        app.log.info({ workers: opts.workers, redis: runtime.redis.managed ? 'managed' : 'given' }, 'chancery console ready');
        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = (signal: string) => {
            if (stopping) return;
            stopping = true;
            app.log.info({ signal }, 'shutting down: finishing requests and jobs in hand');
            void app
              .close()
              .then(() => runtime.close())
              .catch((err: unknown) => app.log.error({ err }, 'shutdown'))
              .finally(resolve);
          };
          process.once('SIGTERM', () => stop('SIGTERM'));
          process.once('SIGINT', () => stop('SIGINT'));
        });
        app.log.info('stopped');
      }),
    );
}
