import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { InputError, UsageError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import { decodeUtf8, parseRegistryFile } from '../registry/index.ts';
import { checkTemplate, displayPath, importArchivedNote, parseTemplateText, loadTemplate, loadTemplateVersions, scanTemplates } from '../templates/index.ts';
import { action } from './run.ts';

/** Custom field names of the registry file, when there is one, so `check` knows them. */
async function registryCustomFields(file: string): Promise<string[]> {
  if (!fs.existsSync(file)) return [];
  const recipients = await parseRegistryFile(file);
  return [...new Set(recipients.flatMap((r) => Object.keys(r.custom)))];
}

/** `chancery template import|list|check`. */
export function registerTemplateCommands(program: Command): void {
  const template = program.command('template').description('note templates: import an archived note, list, check');

  template
    .command('import')
    .description('turn an archived note (Markdown export, e.g. seed 004) into templates/<id>.<lang>.md')
    .argument('<file>', 'the archived note')
    .requiredOption('--id <id>', 'template id, e.g. cu-2009-92')
    .requiredOption('--lang <lang>', 'language of the note (fr, en)')
    .option('--subject <text>', 'subject for the front matter (derived from the text when absent)')
    .option('--out <file>', 'where to write (default: <templates>/<id>.<lang>.md)')
    .option('--force', 'overwrite an existing template', false)
    .action(
      action(async (file: string, opts: { id: string; lang: string; subject?: string; out?: string; force: boolean }) => {
        const cfg = loadConfig();
        let bytes: Buffer;
        try {
          bytes = fs.readFileSync(file);
        } catch (err) {
          throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
        }
        // The registry's check: a Windows-1252 or UTF-16 export is named as such, with its line.
        const text = decodeUtf8(file, bytes);
        const out = path.resolve(opts.out ?? path.join(cfg.paths.templates, `${opts.id}.${opts.lang}.md`));
        if (opts.out && !/\.md$/.test(out)) throw new UsageError(`--out ${opts.out}: a template file ends in .md`);
        const existing = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : undefined;
        // Re-importing over a template keeps the subject an officer set in its front matter.
        const subject = opts.subject ?? (existing !== undefined && !opts.force ? parseTemplateText(existing, out).meta.subject : undefined);
        const result = importArchivedNote(text, { id: opts.id, language: opts.lang, file, ...(subject ? { subject } : {}) });
        if (existing !== undefined && !opts.force) {
          if (existing === result) {
            process.stdout.write(`${displayPath(out)}: unchanged (this note is already imported)\n`);
            return;
          }
          throw new InputError(`${displayPath(out)}: already exists and differs from this import (use --force to overwrite)`);
        }
        // Write beside the target then rename: never half a template.
        fs.mkdirSync(path.dirname(out), { recursive: true });
        writeFileAtomic(out, result);
        process.stdout.write(`${displayPath(out)}\n`);
      }),
    );

  template
    .command('list')
    .description('list the templates and their language versions; a file that does not load is listed as broken (exit 1)')
    .option('--json', 'print JSON', false)
    .action(
      action(async (opts: { json: boolean }) => {
        const { templates: metas, broken } = await scanTemplates(loadConfig().paths.templates);
        // The others are listed all the same; each broken file says its line and error.
        const brokenLines = broken.map((b) => `broken: ${b.problem}\n`).join('');
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(metas, null, 2)}\n`);
          process.stderr.write(brokenLines);
        } else if (metas.length === 0) {
          process.stdout.write(`No templates.\n${brokenLines}`);
        } else {
          const rows = [['id', 'lang', 'version', 'kind', 'reference', 'subject'], ...metas.map((m) => [m.id, m.language, String(m.version), m.kind, m.reference, m.subject])];
          const widths = [0, 1, 2, 3, 4].map((k) => Math.max(...rows.map((r) => [...r[k]!].length)));
          for (const r of rows) process.stdout.write(`${r.map((c, k) => (k < 5 ? c.padEnd(widths[k]!) : c)).join('  ')}\n`);
          process.stdout.write(brokenLines);
        }
        return broken.length > 0 ? 1 : 0;
      }),
    );

  template
    .command('check')
    .description('list the placeholders of each language version and any problem (exit 1 if one)')
    .argument('<id>', 'template id')
    .option('--lang <lang>', 'check this language version only')
    .option('--json', 'print JSON', false)
    .action(
      action(async (id: string, opts: { lang?: string; json: boolean }) => {
        const cfg = loadConfig();
        const versions = opts.lang ? [await loadTemplate(cfg.paths.templates, id, opts.lang)] : await loadTemplateVersions(cfg.paths.templates, id);
        const custom = await registryCustomFields(cfg.CHANCERY_REGISTRY);
        const results = versions.map((v) => checkTemplate(v, custom));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
        } else {
          for (const r of results) {
            process.stdout.write(`${r.file} (${r.language})\n  placeholders: ${r.placeholders.join(', ') || 'none'}\n`);
            if (r.problems.length === 0) process.stdout.write('  no problem\n');
            for (const p of r.problems) process.stdout.write(`  problem: ${p}\n`);
          }
        }
        return results.some((r) => r.problems.length > 0) ? 1 : 0;
      }),
    );
}
