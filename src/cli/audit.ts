import type { Command } from 'commander';
import { generateSigningKey, loadSigningKey, takeCheckpoint } from '../audit/checkpoint.ts';
import { describeCheckpointFailure, readPublicKey, verifyCheckpoints } from '../audit/checkpoint-verify.ts';
import { exportDispatches } from '../audit/dispatch-export.ts';
import { exportEvents, type ExportFormat } from '../audit/export.ts';
import { describeBreak, verifyChain } from '../audit/verify.ts';
import { storeClock, zonedDate } from '../clock.ts';
import { InputError, UsageError } from '../errors.ts';
import { action } from './run.ts';
import { withDb } from './store.ts';

/**
 * `chancery audit verify | export | checkpoint | keygen`: check the hash-chained audit trail
 * (against signed checkpoints kept outside the store); hand over dispatches or events.
 */

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the audit trail: verify its hash chain, export it');

  audit
    .command('verify')
    .description('check every event against its hash and its predecessor (exit 1 naming the first bad event)')
    .option('--checkpoints <file>', 'also check the signed checkpoints of this file: the store must still hold each checkpointed head at its count (exit 1 naming the last good checkpoint)')
    .option('--public-key <file>', 'with --checkpoints: every checkpoint must be signed by this Ed25519 public key (PEM, as audit keygen prints it)')
    .action(
      action(async (opts: { checkpoints?: string; publicKey?: string }) => {
        if (opts.publicKey !== undefined && opts.checkpoints === undefined) throw new UsageError('--public-key goes with --checkpoints FILE');
        const publicKey = opts.publicKey !== undefined ? readPublicKey(opts.publicKey) : undefined;
        await withDb(async (db) => {
          const result = await verifyChain(db);
          if (!result.ok) throw new InputError(describeBreak(result.firstBad));
          out(`chain whole: ${result.count} events`);
          if (opts.checkpoints === undefined) return;
          const report = await verifyCheckpoints(db, opts.checkpoints, { publicKey });
          if (report.firstBad) throw new InputError(describeCheckpointFailure(opts.checkpoints, report));
          if (!report.lastGood) throw new InputError(`${opts.checkpoints}: no checkpoint in it`);
          out(`checkpoints good: ${report.checked}; the latest ${report.lastGood.at} at ${report.lastGood.count} events; signed by ${report.fingerprints.join(', ')}`);
        });
      }),
    );

  audit
    .command('checkpoint')
    .description('sign (AUDIT_SIGNING_KEY_FILE) the head hash, the event count and the time, and append it as one JSON line to the checkpoint file')
    .option('--out <file>', 'checkpoint file (default AUDIT_CHECKPOINT_FILE, or audit-checkpoints.jsonl in the working folder)')
    .action(
      action(async (opts: { out?: string }) => {
        await withDb(async (db, cfg) => {
          if (!cfg.AUDIT_SIGNING_KEY_FILE) throw new UsageError('AUDIT_SIGNING_KEY_FILE is not set (make a key with chancery audit keygen --out FILE)');
          const key = loadSigningKey(cfg.AUDIT_SIGNING_KEY_FILE);
          const file = opts.out ?? cfg.paths.checkpoints;
          const cp = await takeCheckpoint(db, key, file);
          out(`checkpoint ${cp.at}: ${cp.count} events, head ${cp.head}, signed by ${key.fingerprint}, appended to ${file}`);
        });
      }),
    );

  audit
    .command('keygen')
    .description('write a new Ed25519 private key for AUDIT_SIGNING_KEY_FILE (mode 0600, never over a file) and print its public key')
    .requiredOption('--out <file>', 'file for the private key')
    .action(
      action((opts: { out: string }) => {
        const { publicKeyPem, fingerprint } = generateSigningKey(opts.out);
        process.stdout.write(publicKeyPem);
        out(`fingerprint ${fingerprint}; set AUDIT_SIGNING_KEY_FILE=${opts.out}`);
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
