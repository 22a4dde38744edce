import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { InfrastructureError, UsageError } from '../errors.ts';
import { loadWebSecret, openWebRuntime } from '../web/context.ts';
import { buildServer, parseTrustProxy } from '../web/server.ts';
import { logger, componentLogger } from '../ops/log.ts';
import { onStopSignal, stopAndExit, withDeadline } from '../ops/stop.ts';
import type { WebApp } from '../web/server.ts';
import { action } from './run.ts';

/** Stops listening and lets requests in progress end for a second; then cuts the connections left. */
async function closeServer(app: WebApp): Promise<void> {
  const closing = app.close();
  if ((await withDeadline(closing, 1_000)) === 'timeout') app.server.closeAllConnections();
  await closing;
}

/**
 * `chancery serve`: the web console. By default the server also runs a render and a send
 * worker in its own process (so Send in the browser sends with nothing else running);
 * --no-workers only enqueues, for `chancery worker` processes elsewhere (large campaigns:
 * rendering is CPU-bound and would slow the pages). SIGTERM/SIGINT: stop accepting, finish the
 * requests and the jobs in hand (or release them), close Redis connections and the store, exit 0,
 * within 10 s whatever is down. /healthz and /readyz: src/web/server.ts.
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
        const log = componentLogger('serve');
        const stop = onStopSignal(log);
        const runtime = await openWebRuntime(cfg, { workers: opts.workers });
        const app = await buildServer({
          runtime,
          secret: loadWebSecret(cfg),
          trustProxy,
          // Never in the log: cookies, tokens, passwords (bodies are not logged at all).
          loggerInstance: logger.child({}, { redact: ['req.headers.cookie', 'req.headers.authorization', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]'] }),
        });
        try {
          await app.listen({ port: Number(opts.port), host: opts.host });
        } catch (err) {
          await app.close().catch(() => undefined);
          await runtime.close();
          throw new InfrastructureError(`serve: cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`);
        }
        if (!stop.signal.aborted) log.info({ workers: opts.workers, redis: runtime.redis.managed ? 'managed' : 'given' }, 'chancery console ready');
        await stop.received;
        // Requests in progress get a moment; then connections are closed, the workers stopped
        // (jobs finish or are released) and the store closed, each bounded.
        await stopAndExit(log, [
          { name: 'http server', run: () => closeServer(app) },
          { name: 'workers and store', run: () => runtime.close(), ms: cfg.STOP_GRACE_MS + 5_000 },
        ]);
      }),
    );
}
