import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { parseQueues, runWorkerProcess } from '../../workers/run.ts';
import { action } from './run.ts';

/** `chancery worker [--queues render,send] [--concurrency N]`: a long-running worker process. */
export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('run render, send and remind workers until SIGTERM (jobs in hand finish or are released; stops within 10 s)')
    .option('--queues <list>', 'queues to work on: render,send,remind', 'render,send,remind')
    .option('--concurrency <n>', 'jobs at once per queue (default RENDER_CONCURRENCY / SEND_CONCURRENCY)')
    .option('--health-port <port>', 'serve /healthz and /readyz on this port (0: any free port)')
    .option('--health-host <host>', 'address of the health port', '127.0.0.1')
    .action(
      action(async (opts: { queues: string; concurrency?: string; healthPort?: string; healthHost: string }) => {
        let concurrency: number | undefined;
        if (opts.concurrency !== undefined) {
          if (!/^[1-9]\d{0,2}$/.test(opts.concurrency)) throw new UsageError(`--concurrency: "${opts.concurrency}" is not a whole number from 1 to 999`);
          concurrency = Number(opts.concurrency);
        }
        if (opts.healthPort !== undefined && (!/^\d{1,5}$/.test(opts.healthPort) || Number(opts.healthPort) > 65535)) {
          throw new UsageError(`--health-port: "${opts.healthPort}" is not a port number`);
        }
        const healthPort = opts.healthPort === undefined ? undefined : Number(opts.healthPort);
        await runWorkerProcess({ queues: parseQueues(opts.queues), concurrency, healthPort, healthHost: opts.healthHost });
      }),
    );
}
