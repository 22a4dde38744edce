import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { approveCampaign } from '../campaigns/approval.ts';
import { openDispatchContext } from '../campaigns/context.ts';
import { createCampaign } from '../campaigns/create.ts';
import { exportCampaignPdfs } from '../campaigns/documents.ts';
import { startSend } from '../campaigns/lifecycle.ts';
import { runPreflight } from '../campaigns/preflight.ts';
import { getCampaign } from '../campaigns/repo.ts';
import { loadConfig, type Config } from '../config.ts';
import { InputError } from '../errors.ts';
import { formatGaps } from '../merge/index.ts';
import { stopManagedRedis } from '../queue/redis.ts';
import { listRecipients } from '../registry/index.ts';
import { listTemplates } from '../templates/index.ts';
import { exportDispatches } from '../audit/dispatch-export.ts';
import { exportEvents } from '../audit/export.ts';
import { describeBreak, verifyChain } from '../audit/verify.ts';
import { setClock, storeClock, zonedDate, zonedInstant } from '../clock.ts';
import { campaignFollowUp, overdueRecipients } from '../campaigns/followup.ts';
import { assignReply, driveClock, ingestReplies, prepareSampleReplies, recordReply } from '../deadlines/index.ts';
import { importRecipients, parseRegistryFile } from '../registry/index.ts';
import { runRemindersUntilIdle } from '../../workers/remind.ts';
import { runWithProgress } from './campaign.ts';
import { action } from './run.ts';

/** The demo's own workspace: wiped at every run so the story starts from the beginning. */
const DEMO_HOME = 'var/demo';

/** Sample e-mail replies (seeds/replies/README.md). */
const SAMPLE_REPLIES = path.resolve('seeds/replies');

/** Replies that came by fax, post, hand or note verbale, logged by a clerk: id, received, channel, their reference. */
const HAND_REPLIES: [string, string, string, string | undefined][] = [
  ['BRA', '2009-07-10', 'fax', 'Nota No. 123/2009'],
  ['PHL', '2009-07-13', 'note-verbale', 'No. 09-0456'],
  ['HTI', '2009-07-13', 'hand', undefined],
  ['CHE', '2009-07-14', 'post', 'N.411.0-CTOC'],
  ['JPN', '2009-07-14', 'note-verbale', 'UNV-2009-117'],
  ['MEX', '2009-07-15', 'email', undefined],
  ['SEN', '2009-07-15', 'note-verbale', 'No. 0783/MPS/V'],
  ['CAN', '2009-07-15', 'fax', undefined],
];

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
      // Austria's ministry writes from its own domain: its record says so (sample reply 06 matches by it).
      const aut = await importRecipients(db, await parseRegistryFile(path.join(SAMPLE_REPLIES, 'registry-aut-own-domain.json')));
      say(`registry update: ${aut.updated} record changed (Austria's own e-mail domain)`);
      const recipients = await listRecipients(db);
      const templates = await listTemplates(cfg.paths.templates);
      const byLang = count(recipients.map((r) => r.language));
      say(`registry: ${recipients.length} recipients (${Object.entries(byLang).map(([l, n]) => `${n} in ${l}`).join(', ')}) from ${cfg.CHANCERY_REGISTRY}`);
      say(`templates: ${templates.map((t) => `${t.id}.${t.language}`).join(', ')}`);
      return { recipients, templates };
    });

    // The story runs on a driven clock: same code as real time, days pass in seconds.
    const at = (date: string, time = '10:00') => zonedInstant(date, time, cfg.DUTY_STATION_TZ);
    await setClock(db, at('2009-07-08', '09:30'), 'demo');
    const clock = storeClock(db);

    const campaign = await timed(stages, '2. Create, preflight, approve (8 July 2009)', async () => {
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

    const final = await timed(stages, '3. Send to every Member State (8 July 2009)', async () => {
      const r = await startSend(db, cfg, opened.ctx.queues, campaign.id, 'approver.demo');
      say(`${r.created} dispatches created, ${r.enqueued} jobs enqueued; render and send workers run in this process`);
      const p = await runWithProgress(opened, campaign.id, {});
      say(`sent ${p.sent}, failed ${p.failed}, cancelled ${p.cancelled} of ${p.total}`);
      if (p.failed > 0 || p.open > 0) exitCode = 1;
      return p;
    });

    const follow = await timed(stages, '4. Replies, reminders, deadline (driven clock)', async () => {
      // Replies logged by hand: notes verbales, faxes and letters that reached the secretariat.
      await driveClock(opened, at('2009-07-15', '16:00'), 'demo');
      for (const [rid, receivedOn, channel, theirReference] of HAND_REPLIES) {
        await recordReply(db, cfg, clock, { campaignId: campaign.id, recipientId: rid, receivedOn, channel, theirReference, by: 'registry.clerk' });
      }
      say(`by 15 July: ${HAND_REPLIES.length} replies recorded by hand (${HAND_REPLIES.map((r) => `${r[0]} ${r[2]}`).join(', ')})`);

      const remind = async (date: string) => {
        await driveClock(opened, at(date, '09:00'), 'demo');
        await runRemindersUntilIdle(opened, campaign.id);
        const f = await campaignFollowUp(db, cfg, clock, campaign.id);
        const today = f.recipients.filter((r) => r.reminders.some((m) => m.date === date && m.state === 'sent')).length;
        say(`${formatDay(date)}: reminders sent to ${today} governments with no reply on record`);
      };
      await remind('2009-07-17');

      // E-mail replies saved from the secretariat's mailbox, matched to their dispatches.
      const mailbox = path.join(cfg.paths.home, 'mailbox');
      const files = prepareSampleReplies(SAMPLE_REPLIES, mailbox, { campaignId: campaign.id, messageIdDomain: cfg.MESSAGE_ID_DOMAIN });
      const ingest = async (date: string, names: RegExp) => {
        await driveClock(opened, at(date, '17:00'), 'demo');
        const dir = path.join(mailbox, date);
        fs.mkdirSync(dir, { recursive: true });
        for (const f of files.filter((f) => names.test(path.basename(f)))) fs.copyFileSync(f, path.join(dir, path.basename(f)));
        const items = await ingestReplies(db, cfg, clock, dir, { by: 'registry.clerk' });
        for (const i of items) say(`  ${path.basename(i.file)}: ${i.outcome}${i.recipientId ? ` ${i.recipientId} by ${i.method}` : ''}${i.reason ? ` (${i.reason})` : ''}`);
        return items;
      };
      say(`${formatDay('2009-07-25')}: e-mail replies ingested`);
      await ingest('2009-07-25', /^0[1235]-/);
      await remind('2009-07-28');
      say(`${formatDay('2009-07-30')}: e-mail replies ingested`);
      const late = await ingest('2009-07-30', /^0[46]-/);
      for (const i of late.filter((i) => i.outcome === 'unmatched')) {
        await assignReply(db, cfg, clock, i.file, campaign.id, 'CIV', { by: 'registry.clerk' });
        say(`  ${path.basename(i.file)}: assigned by hand to CIV (a counsellor writing from a personal address)`);
      }

      await driveClock(opened, at('2009-08-01', '09:00'), 'demo');
      const overdue = await overdueRecipients(db, cfg, clock, campaign.id);
      say(`${formatDay('2009-08-01')}: the reply-by date (31 July 2009) has passed; ${overdue.overdue.length} governments are overdue:`);
      say(wrap(overdue.overdue.map((r) => r.recipient_id).join(' '), 96, '  '));
      return campaignFollowUp(db, cfg, clock, campaign.id);
    });

    const exports = await timed(stages, '5. Audit export and verification', async () => {
      const dir = path.join(cfg.paths.home, 'exports');
      fs.mkdirSync(dir, { recursive: true });
      const csv = path.join(dir, 'audit-dispatches.csv');
      const jsonl = path.join(dir, 'audit-dispatches.jsonl');
      const events = path.join(dir, 'audit-events.jsonl');
      const today = zonedDate(await clock.now(), cfg.DUTY_STATION_TZ);
      const d = await exportDispatches(db, { campaignId: campaign.id, format: 'csv', out: csv, today });
      await exportDispatches(db, { campaignId: campaign.id, format: 'jsonl', out: jsonl, today });
      const e = await exportEvents(db, { campaignId: campaign.id, format: 'jsonl', out: events });
      say(`exported ${d.count} dispatches (notes and reminders) to ${rel(csv)} and ${rel(jsonl)}, ${e.count} events to ${rel(events)}`);
      const v = await verifyChain(db);
      if (!v.ok) {
        exitCode = 1;
        say(`audit chain BROKEN: ${describeBreak(v.firstBad)}`);
      } else say(`audit chain whole: ${v.count} events, each carrying the hash of the one before`);
      return { csv, jsonl, events };
    });

    const c = await getCampaign(db, campaign.id);
    const total = (performance.now() - t0) / 1000;
    say('\n== Summary');
    say(`campaign ${c.id} ${c.reference}: ${c.state}; ${final.sent} sent, ${final.failed} failed to ${recipients.length} recipients; templates ${templates.length}`);
    say(`follow-up:     ${follow.counts.replied} replied, ${follow.counts.reminded} reminded, ${follow.counts.overdue} overdue after 31 July 2009`);
    // The PDFs live in the store; written out here for people to open (chancery campaign pdfs).
    const pdfDir = path.join(cfg.paths.documents, c.id);
    const pdfs = await exportCampaignPdfs(db, cfg.paths.home, c.id, pdfDir);
    say(`PDFs as sent:  ${rel(pdfDir)} (${pdfs.count}, notes and reminders, each checked against its recorded SHA-256)`);
    say(`mail:          ${cfg.SMTP_URL ? 'delivered to SMTP_URL' : rel(cfg.paths.outbox)}`);
    say(`store:         ${rel(cfg.paths.db)}`);
    say(`audit exports: ${rel(exports.csv)}, ${rel(exports.jsonl)}, ${rel(exports.events)}`);
    for (const s of stages) say(`${s.name.padEnd(48)} ${(s.ms / 1000).toFixed(1)} s`);
    say(`${'total'.padEnd(48)} ${total.toFixed(1)} s`);
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

function formatDay(iso: string): string {
  return new Date(`${iso}T12:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
}

function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines.join('\n');
}

function count(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
