import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { InputError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import { chooseVersion, mergeDocument } from '../merge/index.ts';
import { ensureRegistryLoaded, getRecipient } from '../registry/index.ts';
import { renderDocument } from '../render/index.ts';
import { openStore } from '../store/db.ts';
import { loadTemplate, loadTemplateVersions } from '../templates/index.ts';
import { action } from './run.ts';

/** `chancery preview`: one recipient's letter as PDF, nothing recorded, nothing sent. */
export function registerPreviewCommands(program: Command): void {
  program
    .command('preview')
    .description("render one recipient's letter to a PDF file (nothing is sent or recorded)")
    .requiredOption('--template <id>', 'template id, e.g. cu-2009-92')
    .requiredOption('--recipient <rid>', 'recipient id, e.g. FRA')
    .option('--lang <lang>', "language version (default: the recipient's correspondence language)")
    .option('--reference <ref>', 'reference to print instead of the template’s')
    .option('--letter-date <date>', 'letter date (ISO 8601)')
    .option('--reply-by <date>', 'reply-by date (ISO 8601)')
    .requiredOption('--out <file>', 'where to write the PDF')
    .action(
      action(async (opts: { template: string; recipient: string; lang?: string; reference?: string; letterDate?: string; replyBy?: string; out: string }) => {
        const cfg = loadConfig();
        const db = await openStore(cfg);
        try {
          await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);
          const recipient = await getRecipient(db, opts.recipient);
          if (!recipient) throw new InputError(`unknown recipient "${opts.recipient}"`);
          const template = opts.lang
            ? await loadTemplate(cfg.paths.templates, opts.template, opts.lang)
            : chooseVersion(await loadTemplateVersions(cfg.paths.templates, opts.template), recipient);
          if (!template) throw new InputError(`template ${opts.template} has no version in ${recipient.language} (${recipient.id}'s language) and no fallback`);
          const merged = mergeDocument(template, recipient, {
            reference: opts.reference,
            letterDate: opts.letterDate,
            replyBy: opts.replyBy,
          });
          const rendered = await renderDocument(merged);
          // Write beside the target then rename, so a failed run never leaves half a PDF.
          const out = path.resolve(opts.out);
          fs.mkdirSync(path.dirname(out), { recursive: true });
          writeFileAtomic(out, rendered.bytes);
          process.stdout.write(`${opts.out}: ${rendered.pages} pages, sha256 ${rendered.sha256}\n`);
        } finally {
          await db.destroy();
        }
      }),
    );
}
