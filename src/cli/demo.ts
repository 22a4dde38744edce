import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { approveCampaign } from '../campaigns/approval.ts';
import { openDispatchContext } from '../campaigns/context.ts';
import { createCampaign } from '../campaigns/create.ts';
import { startSend } from '../campaigns/lifecycle.ts';
import { runPreflight } from '../campaigns/preflight.ts';
import { getCampaign } from '../campaigns/repo.ts';
import { loadConfig, type Config } from '../config.ts';
import { InputError } from '../errors.ts';
import { formatGaps } from '../merge/index.ts';
import { stopManagedRedis } from '../queue/redis.ts';
import { listRecipients } from '../registry/index.ts';
import { listTemplates } from '../templates/index.ts';
import { runWithProgress } from './campaign.ts';
import { action } from './run.ts';

/** The demo's own workspace: wiped at every run so the story starts from the beginning. */
const DEMO_HOME = 'var/demo';

type Stage = { name: string; ms: number };

const say = (line: string) => process.stdout.write(`${line}\n`);

/**
 * `chancery demo`: the whole CU 2009/92 (A) campaign on the embedded defaults (Chancery's own
 * Redis, a SQLite file, the file outbox, or SMTP_URL if set), each stage timed.
 */
export function registerDemoCommands(program: Command): void {
  program
    .command('demo')
    .description('run the CU 2009/92 (A) campaign end to end in a fresh workspace (var/demo)')
    .option('--home <dir>', 'demo workspace (wiped first)', DEMO_HOME)
    .action(action(async (opts: { home: string }) => runDemo(opts.home)));
}

async function timed<T>(stages: Stage[], name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  say(`\n== ${name}`);
  try {
    return await fn();
  } finally {
    stages.push({ name, ms: performance.now() - t0 });
  }
}

async function freshWorkspace(cfg: Config): Promise<void> {
  // A previous demo's Redis may still run on the old data folder: stop it before wiping.
  await stopManagedRedis(cfg).catch(() => false);
  fs.rmSync(cfg.paths.home, { recursive: true, force: true });
  fs.mkdirSync(cfg.paths.home, { recursive: true });
}

export async function runDemo(home: string): Promise<number> {
  const cfg = loadConfig({ ...process.env, CHANCERY_HOME: home });
  const stages: Stage[] = [];
  const t0 = performance.now();
  say(`Chancery demo: CU 2009/92 (A) to every Member State. Workspace ${path.relative(process.cwd(), cfg.paths.home) || '.'} (wiped), ${cfg.REDIS_URL ? 'Redis at REDIS_URL' : 'a Redis Chancery starts itself'}, ${cfg.SMTP_URL ? 'SMTP at SMTP_URL' : 'the file outbox'}.`);
  await freshWorkspace(cfg);

  const opened = await openDispatchContext(cfg, { mailer: true, actor: 'demo' });
  const { db } = opened.ctx;
  let exitCode = 0;
  try {
    const { recipients, templates } = await timed(stages, '1. Registry and templates', async () => {
      const recipients = await listRecipients(db);
      const templates = await listTemplates(cfg.paths.templates);
      const byLang = count(recipients.map((r) => r.language));
      say(`registry: ${recipients.length} recipients (${Object.entries(byLang).map(([l, n]) => `${n} in ${l}`).join(', ')}) from ${cfg.CHANCERY_REGISTRY}`);
      say(`templates: ${templates.map((t) => `${t.id}.${t.language}`).join(', ')}`);
      return { recipients, templates };
    });

    const campaign = await timed(stages, '2. Create, preflight, approve', async () => {
      const c = await createCampaign(db, cfg, {
        templateId: 'cu-2009-92',
        reference: 'CU 2009/92 (A)',
        audience: 'group:member-states',
        letterDate: '2009-07-08',
        replyBy: '2009-07-31',
        remind: '14,3',
        by: 'drafter.demo',
      });
      say(`campaign ${c.id} created by ${c.created_by}: ${c.reference}, letter ${c.letter_date}, reply by ${c.reply_by}, reminders ${(JSON.parse(c.remind_offsets) as number[]).join(" and ")} days before`);
      const pf = await runPreflight(db, cfg, c);
      if (pf.gaps.length > 0) {
        process.stdout.write(formatGaps(pf.gaps).replace(/\n?$/, '\n'));
        throw new InputError(`preflight found ${pf.gaps.length} gap(s): the campaign cannot be approved`);
      }
      say(`preflight: ${pf.rendered} of ${pf.recipients.length} letters merged and rendered, no gaps`);
      const approved = await approveCampaign(db, cfg, c.id, 'approver.demo');
      say(`approved by ${approved.approved_by} (a second person; the drafter cannot approve)`);
      return approved;
    });

    const final = await timed(stages, '3. Send to every Member State', async () => {
      const r = await startSend(db, cfg, opened.ctx.queues, campaign.id, 'approver.demo');
      say(`${r.created} dispatches created, ${r.enqueued} jobs enqueued; render and send workers run in this process`);
      const p = await runWithProgress(opened, campaign.id, {});
      say(`sent ${p.sent}, failed ${p.failed}, cancelled ${p.cancelled} of ${p.total}`);
      if (p.failed > 0 || p.open > 0) exitCode = 1;
      return p;
    });

    const c = await getCampaign(db, campaign.id);
    const total = (performance.now() - t0) / 1000;
    say('\n== Summary');
    say(`campaign ${c.id} ${c.reference}: ${c.state}; ${final.sent} sent, ${final.failed} failed to ${recipients.length} recipients; templates ${templates.length}`);
    say(`PDFs as sent:  ${rel(path.join(cfg.paths.documents, c.id))}`);
    say(`mail:          ${cfg.SMTP_URL ? 'delivered to SMTP_URL' : rel(cfg.paths.outbox)}`);
    say(`store:         ${rel(cfg.paths.db)}`);
    for (const s of stages) say(`${s.name.padEnd(40)} ${(s.ms / 1000).toFixed(1)} s`);
    say(`${'total'.padEnd(40)} ${total.toFixed(1)} s`);
  } finally {
    await opened.close();
    // The demo started its own Redis in its workspace; stop it cleanly (its data stays on disk).
    if (opened.redis.managed) await stopManagedRedis(cfg);
  }
  return exitCode;
}

function rel(p: string): string {
  return path.relative(process.cwd(), p) || '.';
}

function count(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
