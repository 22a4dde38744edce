import path from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { approveCampaign } from '../campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../campaigns/context.ts';
import { createCampaign } from '../campaigns/create.ts';
import { exportCampaignPdfs } from '../campaigns/documents.ts';
import { campaignStatus, cancelCampaign, pauseCampaign, resumeCampaign, retryFailed, setReplyBy, startSend, type CampaignStatus } from '../campaigns/lifecycle.ts';
import { runPreflight } from '../campaigns/preflight.ts';
import { defaultActor, getCampaign } from '../campaigns/repo.ts';
import { testSend } from '../campaigns/test-send.ts';
import { loadConfig } from '../config.ts';
import { InfrastructureError, InputError, UsageError } from '../errors.ts';
import { createMailer } from '../mail/index.ts';
import { formatGaps } from '../merge/index.ts';
import { ensureRegistryLoaded } from '../registry/index.ts';
import { runUntilDone, type RunProgress } from '../../workers/run.ts';
import { commandActor } from './identity.ts';
import { action } from './run.ts';
import { withDb as withStore } from './store.ts';

/** Every command here needs the recipients: load the shipped registry into an empty store. */
const withDb = <T>(fn: Parameters<typeof withStore<T>>[0]) => withStore(fn, { registry: true });
import { storeClock } from '../clock.ts';
import { followUpLine, overdueRecipients } from '../deadlines/followup.ts';
import { listReminderRounds } from '../deadlines/jobs.ts';
import { componentLogger } from '../ops/log.ts';
import { onStopSignal } from '../ops/stop.ts';

/** `chancery campaign ...`: create, preflight, approve, send, status, pause, resume, cancel, retry, test-send, pdfs, set-reply-by. */

async function withQueues<T>(actor: string, fn: (opened: OpenedContext) => Promise<T>, opts: { mailer?: boolean } = {}): Promise<T> {
  const opened = await openDispatchContext(loadConfig(), { actor, mailer: opts.mailer });
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}

function positiveInt(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d{0,5}$/.test(value)) throw new UsageError(`${option}: "${value}" is not a positive whole number`);
  return Number(value);
}

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerCampaignCommands(program: Command): void {
  const campaign = program.command('campaign').description('circular notes: create, approve, send and follow one campaign');

  campaign
    .command('create')
    .description('create a campaign (prints its id alone on the last line)')
    .requiredOption('--template <id>', 'template id, e.g. cu-2009-92')
    .requiredOption('--reference <ref>', 'reference, e.g. "CU 2009/92 (A)", or next:CU for the next number of a series')
    .requiredOption('--audience <aud>', "'all', 'group:NAME' or ids: FRA,DEU,...")
    .requiredOption('--reply-by <date>', 'reply-by date, yyyy-mm-dd')
    .option('--remind <days>', 'reminders, days before reply-by: 14,3')
    .option('--letter-date <date>', "date of the note, yyyy-mm-dd (default: the template's)")
    .option('--by <name>', 'who drafts it (the approver must be someone else); with accounts, a drafter, password asked or CHANCERY_PASSWORD')
    .option('--rate <perMinute>', 'at most this many messages a minute for this campaign')
    .option('--overdue-remind <days>', 'one more reminder this many days after the reply-by date')
    .action(
      action(async (opts: { template: string; reference: string; audience: string; replyBy: string; remind?: string; letterDate?: string; by?: string; rate?: string; overdueRemind?: string }) => {
        await withStore(async (db, cfg) => {
          // Who it is first: a refused --by leaves even an empty store as it was.
          const actor = await commandActor(db, cfg, opts.by, 'draft', 'create campaigns');
          await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);
          const c = await createCampaign(db, cfg, {
            templateId: opts.template,
            reference: opts.reference,
            audience: opts.audience,
            replyBy: opts.replyBy,
            letterDate: opts.letterDate,
            remind: opts.remind,
            by: actor.name,
            auth: actor.auth,
            ratePerMinute: positiveInt(opts.rate, '--rate'),
            overdueRemind: positiveInt(opts.overdueRemind, '--overdue-remind'),
          });
          out(`campaign created: ${c.reference}, template ${c.template_id}, audience ${c.audience}, letter ${c.letter_date}, reply by ${c.reply_by}, by ${c.created_by}`);
          out(c.id);
        });
      }),
    );

  campaign
    .command('preflight <id>')
    .description('merge and render every letter without sending; list every gap (exit 1 if any)')
    .option('--json', 'gaps as JSON')
    .action(
      action(async (id: string, opts: { json?: boolean }) =>
        withDb(async (db, cfg) => {
          const c = await getCampaign(db, id);
          const r = await runPreflight(db, cfg, c);
          if (opts.json) out(JSON.stringify({ campaign: id, recipients: r.recipients.length, rendered: r.rendered, gaps: r.gaps }, null, 2));
          else if (r.gaps.length > 0) {
            process.stdout.write(formatGaps(r.gaps).replace(/\n?$/, '\n'));
            out(`${r.gaps.length} gap(s); ${r.rendered} of ${r.recipients.length} letters merged and rendered`);
          } else out(`no gaps: ${r.rendered} of ${r.recipients.length} letters merged and rendered`);
          return r.gaps.length > 0 ? 1 : 0;
        }),
      ),
    );

  campaign
    .command('approve <id>')
    .description('approve the exact documents (the approver must differ from the creator)')
    .requiredOption('--by <name>', 'approver; with accounts, an approver, password asked or CHANCERY_PASSWORD')
    .action(
      action(async (id: string, opts: { by: string }) =>
        withStore(async (db, cfg) => {
          const actor = await commandActor(db, cfg, opts.by, 'approve', 'approve campaigns');
          await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);
          const c = await approveCampaign(db, cfg, id, actor.name, actor.auth);
          out(`campaign ${c.id} approved by ${c.approved_by} (fingerprint ${c.approval_fingerprint?.slice(0, 16)}…)`);
        }),
      ),
    );

  const sendLike = (name: string, description: string) =>
    campaign
      .command(`${name} <id>`)
      .description(description)
      .option('--detach', 'only enqueue: `chancery worker` processes do the work')
      .option('--by <name>', 'who does it (audit)')
      .option('--render-concurrency <n>', 'render jobs at once in this process')
      .option('--send-concurrency <n>', 'send jobs at once in this process');

  type SendOpts = { detach?: boolean; by?: string; renderConcurrency?: string; sendConcurrency?: string; failed?: boolean };

  const drive = async (opened: OpenedContext, id: string, opts: SendOpts): Promise<number> => {
    if (opts.detach) {
      out(`enqueued; workers will send it (chancery worker). Follow with: chancery campaign status ${id}`);
      return 0;
    }
    const final = await runWithProgress(opened, id, {
      renderConcurrency: positiveInt(opts.renderConcurrency, '--render-concurrency'),
      sendConcurrency: positiveInt(opts.sendConcurrency, '--send-concurrency'),
    });
    out(`campaign ${id}: ${final.sent} sent, ${final.failed} failed, ${final.cancelled} cancelled of ${final.total}; campaign ${final.campaignState}`);
    if (final.open > 0 && final.campaignState === 'sending') {
      // Stopped on purpose (SIGTERM/SIGINT): not a failure, so 0 like every stopped process.
      process.stderr.write(`chancery: stopped with ${final.open} dispatch(es) open: they stay queued; run chancery campaign send ${id} again or start chancery worker\n`);
      return 0;
    }
    if (final.campaignState === 'paused') {
      const reason = final.reason ?? 'paused';
      if (/SMTP configuration/.test(reason)) throw new InfrastructureError(`campaign ${id} paused: ${reason}`);
      throw new InputError(`campaign ${id} paused: ${reason}`);
    }
    if (final.failed > 0) {
      process.stderr.write(`chancery: ${final.failed} dispatch(es) failed: chancery campaign status ${id}; chancery campaign retry ${id} --failed\n`);
      return 1;
    }
    return 0;
  };

  sendLike('send', 'send an approved campaign: one dispatch per recipient; workers run here with a progress bar unless --detach').action(
    action(async (id: string, opts: SendOpts) => {
      const by = opts.by ?? defaultActor();
      return withQueues(by, async (opened) => {
        const r = await startSend(opened.ctx.db, opened.ctx.cfg, opened.ctx.queues, id, by);
        out(`campaign ${id}: ${r.created} dispatch(es) created, ${r.enqueued} job(s) enqueued`);
        return drive(opened, id, opts);
      }, { mailer: true });
    }),
  );

  sendLike('resume', 'resume a paused campaign (approval is checked again)').action(
    action(async (id: string, opts: SendOpts) => {
      const by = opts.by ?? defaultActor();
      return withQueues(by, async (opened) => {
        const r = await resumeCampaign(opened.ctx.db, opened.ctx.cfg, opened.ctx.queues, id, by);
        out(`campaign ${id} resumed: ${r.enqueued} job(s) enqueued`);
        return drive(opened, id, opts);
      }, { mailer: true });
    }),
  );

  sendLike('retry', 're-enqueue failed dispatches')
    .option('--failed', 'the failed dispatches (required)')
    .action(
      action(async (id: string, opts: SendOpts) => {
        if (!opts.failed) throw new UsageError('campaign retry: say what to retry: --failed');
        const by = opts.by ?? defaultActor();
        return withQueues(by, async (opened) => {
          const r = await retryFailed(opened.ctx.db, opened.ctx.cfg, opened.ctx.queues, id, by);
          out(`campaign ${id}: ${r.requeued} failed dispatch(es) re-enqueued`);
          if (r.requeued === 0) return 0;
          return drive(opened, id, opts);
        }, { mailer: true });
      }),
    );

  campaign
    .command('status <id>')
    .description('counts per state and the state of each recipient')
    .option('--json', 'as JSON')
    .action(
      action(async (id: string, opts: { json?: boolean }) =>
        withDb(async (db) => {
          const s = await campaignStatus(db, id);
          if (opts.json) out(JSON.stringify(s, null, 2));
          else printStatus(s);
        }),
      ),
    );

  campaign
    .command('overdue <id>')
    .description('recipients whose note was sent, with no reply on record, after the reply-by date (business clock)')
    .option('--json', 'as JSON')
    .action(
      action(async (id: string, opts: { json?: boolean }) =>
        withDb(async (db, cfg) => {
          const r = await overdueRecipients(db, cfg, storeClock(db), id);
          if (opts.json) out(JSON.stringify(r, null, 2));
          else {
            out(`campaign ${id}: reply by ${r.reply_by}, today ${r.today}: ${r.overdue.length} overdue`);
            for (const o of r.overdue) out(followUpLine(o));
          }
        }),
      ),
    );

  campaign
    .command('pause <id>')
    .description('stop new sends (what a worker is sending right now completes)')
    .option('--by <name>', 'who does it (audit)')
    .option('--reason <text>', 'why')
    .action(
      action(async (id: string, opts: { by?: string; reason?: string }) =>
        withDb(async (db) => {
          const c = await pauseCampaign(db, id, opts.by ?? defaultActor(), opts.reason ?? null);
          out(`campaign ${c.id} paused; resume with: chancery campaign resume ${c.id}`);
        }),
      ),
    );

  campaign
    .command('cancel <id>')
    .description('cancel what is not yet sent; what was sent stays sent and is listed')
    .option('--by <name>', 'who does it (audit)')
    .action(
      action(async (id: string, opts: { by?: string }) =>
        withDb(async (db) => {
          const r = await cancelCampaign(db, id, opts.by ?? defaultActor());
          out(`campaign ${id} cancelled: ${r.cancelled} dispatch(es) cancelled, ${r.sent.length} already sent${r.sent.length ? ` (${r.sent.join(', ')})` : ''}`);
          if (r.inFlight.length) out(`being sent when cancelled (their outcome will be recorded): ${r.inFlight.join(', ')}`);
        }),
      ),
    );

  campaign
    .command('test-send <id>')
    .description("send one recipient's letter to a staff address, TEST in the subject (never counted as a dispatch)")
    .requiredOption('--to <address>', 'staff e-mail address')
    .option('--recipient <rid>', 'whose letter (default: the first of the audience)')
    .option('--by <name>', 'who does it (audit)')
    .action(
      action(async (id: string, opts: { to: string; recipient?: string; by?: string }) =>
        withDb(async (db, cfg) => {
          const mailer = createMailer(cfg);
          try {
            const r = await testSend(db, cfg, mailer, id, { to: opts.to, recipientId: opts.recipient, by: opts.by ?? defaultActor() });
            out(`test sent to ${r.to}: ${r.recipientId}'s letter, "${r.subject}", ${r.messageId}`);
          } finally {
            await mailer.close();
          }
        }),
      ),
    );

  campaign
    .command('pdfs <id>')
    .description('write the PDF of every letter rendered for the campaign to a folder, each checked against its recorded SHA-256')
    .option('--out <dir>', 'folder (default: documents/<id> in the working folder)')
    .action(
      action(async (id: string, opts: { out?: string }) =>
        withDb(async (db) => {
          const cfg = loadConfig();
          const dir = path.resolve(opts.out ?? path.join(cfg.paths.documents, id));
          const { count } = await exportCampaignPdfs(db, cfg.paths.home, id, dir);
          out(`${count} PDF${count === 1 ? '' : 's'} written to ${dir}`);
        }),
      ),
    );

  campaign
    .command('set-reply-by <id> <date>')
    .description('move the reply-by date (yyyy-mm-dd)')
    .option('--by <name>', 'who does it (audit)')
    .action(
      action(async (id: string, date: string, opts: { by?: string }) =>
        withDb(async (db) => {
          const c = await setReplyBy(db, id, date, opts.by ?? defaultActor());
          out(`campaign ${c.id}: reply by ${c.reply_by}`);
          for (const r of await listReminderRounds(db, id)) if (r.state === 'scheduled') out(`reminder ${r.key} due ${r.due_on} (${r.due_at})`);
        }),
      ),
    );
}

function printStatus(s: CampaignStatus): void {
  const c = s.campaign;
  out(`campaign ${c.id}  ${c.reference}  template ${c.template_id}  ${c.state}${c.state_reason ? ` (${c.state_reason})` : ''}`);
  out(`letter ${c.letter_date}, reply by ${c.reply_by}; created by ${c.created_by}${c.approved_by ? `, approved by ${c.approved_by} at ${c.approved_at}` : ', not approved'}`);
  const counts = Object.entries(s.counts)
    .filter(([k, v]) => k !== 'total' && v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  out(`dispatches: ${s.counts.total}${counts ? ` (${counts})` : ''}; test sends: ${s.testSends}`);
  for (const d of s.dispatches) {
    const flags = [d.possible_duplicate ? 'POSSIBLE DUPLICATE' : '', d.attempts > 1 ? `${d.attempts} attempts` : '', d.error && d.state !== 'sent' ? d.error : ''].filter(Boolean).join('; ');
    out(`${d.recipient_id.padEnd(12)} ${d.kind.padEnd(8)} ${d.state.padEnd(9)} ${d.message_id ?? ''}${flags ? `  ${flags}` : ''}`);
  }
  // Replies, reminders, overdue (src/deadlines/followup.ts).
  const f = s.followUp;
  out(`follow-up on ${f.today}: ${f.counts.sent} sent, ${f.counts.replied} replied, ${f.counts.reminded} reminded, ${f.counts.overdue} overdue (reply by ${f.reply_by})`);
  for (const r of f.rounds) out(`reminder ${r.key.padEnd(4)} due ${r.due_on}  ${r.state}${r.state_reason ? ` (${r.state_reason})` : ''}${r.result ? `  ${r.result}` : ''}`);
  for (const r of f.recipients) out(followUpLine(r));
}

/** In-process workers with a progress bar on stderr (sent, failed, rate, time left). */
export async function runWithProgress(opened: OpenedContext, id: string, opts: { renderConcurrency?: number; sendConcurrency?: number }): Promise<RunProgress> {
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {value}/{total} | sent {sent} | failed {failed} | {rate}/min | ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let began = false;
  let sentAtStart: number | undefined;
  // Ctrl-C / SIGTERM: the jobs in hand finish (or are released, as the worker does) and the rest
  // stay queued for `send` again or `chancery worker`; a second signal exits at once.
  const stop = onStopSignal(componentLogger('send'));
  try {
    return await runUntilDone(opened, id, {
      ...opts,
      signal: stop.signal,
      onProgress: (p) => {
        sentAtStart ??= p.sent;
        const minutes = (Date.now() - started) / 60_000;
        const rate = minutes > 0 ? Math.round((p.sent - sentAtStart) / minutes) : 0;
        const payload = { sent: p.sent, failed: p.failed, rate };
        const done = p.sent + p.failed + p.cancelled;
        if (!began) {
          bar.start(p.total, done, payload);
          began = true;
        } else {
          bar.setTotal(p.total);
          bar.update(done, payload);
        }
      },
    });
  } finally {
    stop.dispose();
    if (began) bar.stop();
  }
}
