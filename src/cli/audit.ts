import type { Command } from 'commander';
import { exportEvents, type ExportFormat } from '../audit/export.ts';
import { describeBreak, verifyChain } from '../audit/verify.ts';
import { loadConfig } from '../config.ts';
import { InputError, UsageError } from '../errors.ts';
import { openDb, type Db } from '../store/db.ts';
import { action } from './run.ts';

/** `chancery audit verify | export`: check and hand over the hash-chained audit trail. */

async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDb(loadConfig().paths.db);
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the audit trail: verify its hash chain, export it');

  audit
    .command('verify')
    .description('check every event against its hash and its predecessor (exit 1 naming the first bad event)')
    .action(
      action(async () => {
        await withDb(async (db) => {
          const result = await verifyChain(db);
          if (!result.ok) throw new InputError(describeBreak(result.firstBad));
          out(`chain whole: ${result.count} events`);
        });
      }),
    );

  audit
    .command('export')
    .description('write the events to a CSV or JSON Lines file, oldest first (streamed)')
    .option('--campaign <id>', "only this campaign's events")
    .requiredOption('--format <format>', 'csv or jsonl')
    .requiredOption('--out <file>', 'file to write (replaced as a whole when done)')
    .action(
      action(async (opts: { campaign?: string; format: string; out: string }) => {
        if (opts.format !== 'csv' && opts.format !== 'jsonl') throw new UsageError(`--format: "${opts.format}" is not csv or jsonl`);
        const format: ExportFormat = opts.format;
        await withDb(async (db) => {
          const { count } = await exportEvents(db, { campaignId: opts.campaign, format, out: opts.out });
          out(`exported ${count} events to ${opts.out}`);
        });
      }),
    );
}
