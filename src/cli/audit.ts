import type { Command } from 'commander';
import { exportDispatches } from '../audit/dispatch-export.ts';
import { exportEvents, type ExportFormat } from '../audit/export.ts';
import { describeBreak, verifyChain } from '../audit/verify.ts';
import { storeClock, zonedDate } from '../clock.ts';
import { InputError, UsageError } from '../errors.ts';
import { action } from './run.ts';
import { withDb } from './store.ts';

/** `chancery audit verify | export`: check the hash-chained audit trail; hand over dispatches or events. */

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
    .description(
      'write one row per dispatch (note or reminder: reference, recipient, addresses, subject, queued, sent, Message-ID, SMTP reply, PDF SHA-256, attempts, reminders, reply, overdue, status) or, with --events, one row per event, to a CSV or JSON Lines file (streamed; CSV cells starting with = + - @ tab CR are neutralised)',
    )
    .option('--campaign <id>', "only this campaign's dispatches (or events)")
    .option('--events', 'one row per audit event, oldest first, instead of one per dispatch')
    .requiredOption('--format <format>', 'csv or jsonl')
    .requiredOption('--out <file>', 'file to write (replaced as a whole when done)')
    .action(
      action(async (opts: { campaign?: string; events?: boolean; format: string; out: string }) => {
        if (opts.format !== 'csv' && opts.format !== 'jsonl') throw new UsageError(`--format: "${opts.format}" is not csv or jsonl`);
        const format: ExportFormat = opts.format;
        await withDb(async (db, cfg) => {
          if (opts.events) {
            const { count } = await exportEvents(db, { campaignId: opts.campaign, format, out: opts.out });
            out(`exported ${count} events to ${opts.out}`);
            return;
          }
          // Overdue is judged on the business clock at the duty station, as `campaign overdue` does.
          const today = zonedDate(await storeClock(db).now(), cfg.DUTY_STATION_TZ);
          const { count } = await exportDispatches(db, { campaignId: opts.campaign, format, out: opts.out, today });
          out(`exported ${count} dispatches to ${opts.out}`);
        });
      }),
    );
}
