import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import {
  ensureRegistryLoaded,
  exportRecipients,
  importRecipients,
  listRecipients,
  parseRegistryFile,
  type ExportFormat,
  type Recipient,
} from '../registry/index.ts';
import { action } from './run.ts';
import { withDb } from './store.ts';

/** Opens the store, runs fn, and always closes the store (a CLI process must be able to exit). */
function exportFormat(format: string | undefined, out: string | undefined): ExportFormat {
  const f = format ?? (out && path.extname(out).toLowerCase() === '.csv' ? 'csv' : 'json');
  if (f !== 'csv' && f !== 'json') throw new UsageError(`--format: "${f}" is not csv or json`);
  return f;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  return rows.map((r) => r.map((v, c) => (c === r.length - 1 ? v : v + ' '.repeat(widths[c]! - [...v].length))).join('  ')).join('\n');
}

function listRow(r: Recipient): string[] {
  return [r.id, r.language, r.addresseeType, r.names[r.language]?.short ?? '', r.email.to.join(', ')];
}

export function registerRegistryCommands(program: Command): void {
  const registry = program.command('registry').description('the recipient registry: import, export, list');

  registry
    .command('import')
    .description('import recipients from a .csv or .json file: all rows or none')
    .argument('<file>', 'registry file (.csv or .json, UTF-8)')
    .option('--dry-run', 'validate and count, write nothing')
    .action(
      action(async (file: string, opts: { dryRun?: boolean }) => {
        const recipients = await parseRegistryFile(file);
        const r = await withDb((db) => importRecipients(db, recipients, { dryRun: opts.dryRun === true }));
        const counts = `${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged`;
        if (opts.dryRun) {
          process.stdout.write(`${file}: ${recipients.length} recipients valid; dry run, nothing written (would be ${counts})\n`);
        } else {
          process.stdout.write(`${file}: ${recipients.length} recipients imported (${counts})\n`);
        }
      }),
    );

  registry
    .command('export')
    .description('write the registry as CSV or JSON (to standard output unless --out)')
    .option('--format <format>', 'csv or json (default: from --out, else json)')
    .option('--out <file>', 'file to write')
    .action(
      action(async (opts: { format?: string; out?: string }) => {
        const format = exportFormat(opts.format, opts.out);
        const recipients = await withDb(async (db, cfg) => {
          await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);
          return listRecipients(db);
        });
        const text = exportRecipients(recipients, format);
        if (opts.out) {
          // A UTF-8 byte-order mark in a CSV file makes Excel read the accents right.
          writeFileAtomic(opts.out, format === 'csv' ? `\ufeff${text}` : text);
          process.stdout.write(`${opts.out}: ${recipients.length} recipients exported (${format})\n`);
        } else {
          process.stdout.write(text);
        }
      }),
    );

  registry
    .command('list')
    .description('list the recipients: id, language, addressee type, name, e-mail')
    .option('--json', 'the full records as JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const recipients = await withDb(async (db, cfg) => {
          await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);
          return listRecipients(db);
        });
        if (opts.json) {
          process.stdout.write(exportRecipients(recipients, 'json'));
          return;
        }
        const rows = [['ID', 'LANG', 'ADDRESSEE', 'NAME', 'E-MAIL'], ...recipients.map(listRow)];
        process.stdout.write(`${table(rows)}\n${recipients.length} recipients\n`);
      }),
    );
}
