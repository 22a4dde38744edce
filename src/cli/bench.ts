import type { Command } from 'commander';
import { formatResults, runBench } from '../bench/index.ts';
import { BENCH_STORES, type BenchStore } from '../bench/stores.ts';
import { loadConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { action } from './run.ts';

function count(value: string | undefined, option: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) < min) throw new UsageError(`${option}: "${value}" is not a whole number of at least ${min}`);
  return Number(value);
}

function storesOf(value: string): BenchStore[] {
  if (value === 'both') return [...BENCH_STORES];
  if ((BENCH_STORES as readonly string[]).includes(value)) return [value as BenchStore];
  throw new UsageError(`--store: "${value}" is not sqlite, postgres or both`);
}

/** `chancery bench [--recipients N] [--out FILE] [--quick] [--store S]`: figures of this machine, table and JSON. */
export function registerBenchCommands(program: Command): void {
  program
    .command('bench')
    .description('measure rendering, a whole campaign end to end, memory and the audit export on this machine')
    .option('--recipients <n>', 'recipients of the end-to-end campaign', '2000')
    .option('--out <file>', 'where to write the JSON results', 'bench/results.json')
    .option('--quick', 'a short run: fewer repeats, small samples, no 10,000-recipient campaign')
    .option('--runs <n>', 'repeats of each measurement (medians are reported)')
    .option('--sizes <list>', 'campaign sizes for the memory figures, e.g. 1000,10000')
    .option('--audit-events <n>', 'events in the audit export benchmark (default 1,000,000; --quick 20,000)')
    .option('--profile <dir>', 'write V8 CPU profiles of the worker processes to this folder')
    .option('--store <store>', 'store of the campaign and audit runs: sqlite, postgres (DATABASE_URL, else a private cluster) or both, taking turns', 'both')
    .action(
      action(async (opts: { recipients: string; out: string; quick?: boolean; runs?: string; sizes?: string; auditEvents?: string; profile?: string; store: string }) => {
        const sizes = opts.sizes?.split(',').map((s) => count(s.trim(), '--sizes')!);
        const results = await runBench({
          recipients: count(opts.recipients, '--recipients')!,
          out: opts.out,
          quick: opts.quick ?? false,
          runs: count(opts.runs, '--runs'),
          sizes,
          auditEvents: count(opts.auditEvents, '--audit-events'),
          profileDir: opts.profile,
          stores: storesOf(opts.store),
          databaseUrl: loadConfig(process.env).DATABASE_URL,
          log: (line) => process.stderr.write(`${line}\n`),
        });
        process.stdout.write(formatResults(results));
        process.stdout.write(`results written to ${opts.out}\n`);
      }),
    );
}
