import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { parseQueues, runWorkerProcess } from '../../workers/run.ts';
import { action } from './run.ts';

/** `chancery worker [--queues render,send] [--concurrency N]`: a long-running worker process. */
export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('run render, send and remind workers until SIGTERM (jobs in hand finish, the SMTP pool closes)')
    .option('--queues <list>', 'queues to work on: render,send,remind', 'render,send,remind')
    .option('--concurrency <n>', 'jobs at once per queue (default RENDER_CONCURRENCY / SEND_CONCURRENCY)')
    .action(
      action(async (opts: { queues: string; concurrency?: string }) => {
        let concurrency: number | undefined;
        if (opts.concurrency !== undefined) {
          if (!/^[1-9]\d{0,2}$/.test(opts.concurrency)) throw new UsageError(`--concurrency: "${opts.concurrency}" is not a whole number from 1 to 999`);
          concurrency = Number(opts.concurrency);
        }
        await runWorkerProcess({ queues: parseQueues(opts.queues), concurrency });
      }),
    );
}
