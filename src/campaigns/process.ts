import { setImmediate } from 'node:timers/promises';
import { UnrecoverableError } from 'bullmq';
import { classifySmtpError } from '../mail/index.ts';
import { chooseVersion, mergeDocument } from '../merge/index.ts';
import { enqueueDispatches, jobIdFor, renderDispatchIds, type RenderPayload, type SendPayload } from '../queue/queues.ts';
import { getRecipientsById, recipientFingerprint, recipientSchema, type Recipient } from '../registry/index.ts';
import { renderDocument } from '../render/index.ts';
import { appendEvent } from '../store/events.ts';
import type { CampaignState, DispatchState } from '../store/schema.ts';
import { nowIso, writeTx, type Trx } from '../store/tx.ts';
import type { Template } from '../templates/index.ts';
import { cancelReminderIfReplied, reminderDocumentInputs, reminderMail, REMINDER_CAMPAIGN_STATES } from './reminder.ts';
import type { ApprovalDetail } from './approval.ts';
import type { DispatchContext, JobInfo } from './context.ts';
import { pauseFromWorker } from './lifecycle.ts';
import { noteMessage } from './message.ts';
import { loadCheckedDocument, storeDocuments, type RenderedDocument } from './documents.ts';
import { getCampaign, getCampaignForSend, getCampaignForStep, getDispatch, mergeOptionsOf, OPEN_STATES, TERMINAL_STATES, type Dispatch } from './repo.ts';
import { approvedTemplateVersions } from './template-sources.ts';

/**
 * The two worker steps, as plain functions of (context, payload, job facts). The BullMQ workers
 * in workers/ only bind them. Every decision is taken from the store, never from the job:
 * a job may be delivered twice, late, or after the campaign was paused or cancelled.
 */

export type StepOutcome =
  | 'rendered'
  | 'sent'
  | 'failed'
  | 'deferred'
  | 'skipped-done'
  | 'skipped-paused'
  | 'skipped-held'
  | 'paused-campaign'
  | 'missing';

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 1000);
}

async function markFailed(trx: Trx, ctx: DispatchContext, d: { id: string; campaign_id: string }, from: DispatchState[], error: string, extra: { smtp_response?: string | null; possible_duplicate?: number; data?: Record<string, unknown> } = {}): Promise<boolean> {
  const at = nowIso();
  const res = await trx
    .updateTable('dispatches')
    .set({
      state: 'failed',
      error,
      claim_job: null,
      updated_at: at,
      ...(extra.smtp_response !== undefined ? { smtp_response: extra.smtp_response } : {}),
      ...(extra.possible_duplicate ? { possible_duplicate: 1 } : {}),
    })
    .where('id', '=', d.id)
    .where('state', 'in', from)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await appendEvent(trx, { type: 'dispatch.failed', campaignId: d.campaign_id, dispatchId: d.id, actor: ctx.actor, at, data: { error, ...(extra.smtp_response ? { smtp_response: extra.smtp_response } : {}), ...(extra.data ?? {}) } });
  await completeIfDone(trx, ctx, d.campaign_id);
  return true;
}

/** The campaign is done once every dispatch is sent, failed or cancelled. */
export async function completeIfDone(trx: Trx, ctx: Pick<DispatchContext, 'actor' | 'onCampaignDone'>, campaignId: string): Promise<void> {
  // Is any dispatch still open? (One row is enough: counting them all made every send O(campaign size).)
  const open = await trx
    .selectFrom('dispatches')
    .select('id')
    .where('campaign_id', '=', campaignId)
    .where('state', 'in', OPEN_STATES)
    .limit(1)
    .executeTakeFirst();
  if (open) return;
  const at = nowIso();
  const res = await trx.updateTable('campaigns').set({ state: 'done', state_reason: null, updated_at: at }).where('id', '=', campaignId).where('state', '=', 'sending').executeTakeFirst();
  if (Number(res.numUpdatedRows) === 1) {
    const counts = await trx.selectFrom('dispatches').select(['state']).select((eb) => eb.fn.countAll<number>().as('n')).where('campaign_id', '=', campaignId).groupBy('state').execute();
    await appendEvent(trx, { type: 'campaign.completed', campaignId, actor: ctx.actor, at, data: Object.fromEntries(counts.map((c) => [c.state, Number(c.n)])) });
    ctx.onCampaignDone?.(campaignId);
  }
}

/** A render job's outcome: how many of its letters ended how. */
export type RenderOutcome = Partial<Record<StepOutcome, number>>;

/** A letter rendered and written, waiting to be recorded with the rest of its batch. */
type RenderedLetter = {
  d: Dispatch;
  recipient: Recipient;
  template: Template;
  subject: string;
  rendered: { sha256: string; pages: number; bytes: Buffer };
};

type StepCampaign = Awaited<ReturnType<typeof getCampaignForStep>>;

/**
 * Render step, for the batch of dispatches a render job carries: merge the approved template
 * with each recipient and render the PDF; then record the batch (the PDFs, their hashes, page
 * counts, recipient snapshots) in one transaction and hand it to the send queue, one send job
 * per letter. A letter that cannot be merged or rendered is marked failed and the rest go on; a
 * change that needs approval again pauses the campaign and leaves the rest of the batch queued.
 */
export async function processRender(ctx: DispatchContext, payload: RenderPayload, job: JobInfo): Promise<RenderOutcome> {
  const ids = renderDispatchIds(payload);
  const rows = await ctx.db.selectFrom('dispatches').selectAll().where('id', 'in', ids).execute();
  const byId = new Map(rows.map((d) => [d.id, d]));
  const outcome: RenderOutcome = {};
  const count = (o: StepOutcome) => (outcome[o] = (outcome[o] ?? 0) + 1);
  const campaigns = new Map<string, StepCampaign>();
  const letters: RenderedLetter[] = [];
  /** Rendered by an earlier delivery of this job that died before enqueuing the send job. */
  const renderedBefore: Dispatch[] = [];

  // What the batch's letters share, read once for the batch: their addressees (one query) and
  // the template's versions (read and checked against the approval as before, per letter).
  const batch: RenderBatch = {
    recipients: await getRecipientsById(ctx.db, rows.filter((d) => d.kind !== 'reminder').map((d) => d.recipient_id)),
    templates: new Map(),
  };
  for (const id of ids) {
    const d = byId.get(id);
    if (!d) {
      count('missing');
      continue;
    }
    let campaign = campaigns.get(d.campaign_id);
    if (!campaign) campaigns.set(d.campaign_id, (campaign = await getCampaignForStep(ctx.db, d.campaign_id)));
    if (d.state === 'rendered') {
      renderedBefore.push(d);
      count('skipped-done');
      continue;
    }
    if (d.state !== 'pending' && d.state !== 'queued') {
      count('skipped-done');
      continue;
    }
    // Let the event loop turn between letters: the store answers synchronously (better-sqlite3),
    // so a batch would otherwise run as one long task, holding up lock renewals (its own job's
    // and those of send jobs in the same process, which then stall and are sent again) and I/O.
    await setImmediate();
    const step = await renderLetter(ctx, campaign, d, batch);
    if ('letter' in step) letters.push(step.letter);
    else count(step.outcome);
    // Paused: the rest of the batch stays queued; resuming enqueues it again.
    if (step.outcome === 'paused-campaign') break;
  }

  const stored = letters.length > 0 ? await recordRendered(ctx, letters, job) : [];
  for (const _ of stored) count('rendered');
  for (let i = stored.length; i < letters.length; i++) count('skipped-done');
  for (const campaign of campaigns.values()) {
    const toSend = [...renderedBefore, ...stored].filter((d) => d.campaign_id === campaign.id).map((d) => ({ campaignId: campaign.id, dispatchId: d.id }));
    if (toSend.length > 0) await enqueueDispatches(ctx.queues, 'send', toSend, campaign.enqueue_round);
  }
  return outcome;
}

/** What the letters of one render job share. */
type RenderBatch = {
  /** The addressees of the batch's first letters (not reminders), read in one query. */
  recipients: Map<string, Recipient>;
  /** The approved template versions by campaign, read once per batch. */
  templates: Map<string, Template[]>;
};

/** Merges and renders one letter and writes its PDF; or says why not. */
async function renderLetter(ctx: DispatchContext, campaign: StepCampaign, d: Dispatch, batch: RenderBatch): Promise<{ letter: RenderedLetter; outcome?: undefined } | { outcome: StepOutcome }> {
  let recipient: Recipient | undefined;
  let template: Template | undefined;
  let templateId = campaign.template_id;
  let options = mergeOptionsOf(campaign);
  let problem: string | undefined;
  const approved = campaign.approval_detail ? ((campaign.approvalParsed as ApprovalDetail | undefined) ?? (JSON.parse(campaign.approval_detail) as ApprovalDetail)) : undefined;
  if (d.kind === 'reminder') {
    // A reminder (./reminder.ts): today's addressee, the reminder template; none once a reply is on record.
    if (!REMINDER_CAMPAIGN_STATES.includes(campaign.state)) return { outcome: 'skipped-paused' };
    if (await cancelReminderIfReplied(ctx, d)) return { outcome: 'skipped-done' };
    ({ recipient, template, templateId, options, problem } = await reminderDocumentInputs(ctx.cfg, ctx.db, campaign, d, approved?.reminder_templates));
  } else {
    if (campaign.state !== 'sending') return { outcome: 'skipped-paused' };
    recipient = batch.recipients.get(d.recipient_id);
    if (!recipient || !approved || approved.recipients[d.recipient_id] !== recipientFingerprint(recipient)) {
      await pauseFromWorker(ctx.db, campaign.id, ctx.actor, `needs approval again: recipient ${d.recipient_id} ${recipient ? 'changed' : 'was removed from the registry'}`);
      return { outcome: 'paused-campaign' };
    }
    // Exactly the approved versions, from the store (template-sources.ts); whether the files
    // changed since is checked where the operator sends or resumes (checkApproval).
    let versions = batch.templates.get(campaign.id);
    if (!versions) {
      const found = await approvedTemplateVersions(ctx.db, ctx.cfg.paths.templates, campaign.template_id, approved.templates);
      if (found.problem !== undefined) {
        await pauseFromWorker(ctx.db, campaign.id, ctx.actor, `needs approval again: ${found.problem}`);
        return { outcome: 'paused-campaign' };
      }
      batch.templates.set(campaign.id, (versions = found.versions));
    }
    template = chooseVersion(versions, recipient);
  }

  let merged;
  let rendered;
  try {
    if (problem) throw new Error(problem);
    if (!recipient) throw new Error(`recipient ${d.recipient_id} is no longer in the registry`);
    if (!template) throw new Error(`no ${recipient.language} version of template ${templateId} and no fallback`);
    merged = mergeDocument(template, recipient, options);
    rendered = await renderDocument(merged);
  } catch (err) {
    // Preflight renders every letter before approval, so this is rare; retrying will not help.
    await writeTx(ctx.db, (trx) => markFailed(trx, ctx, d, ['pending', 'queued'], `render: ${message(err)}`));
    ctx.log(`render ${d.id}: ${message(err)}`);
    return { outcome: 'failed' };
  }
  return { letter: { d, recipient, template, subject: merged.subject, rendered: { sha256: rendered.sha256, pages: rendered.pages, bytes: rendered.bytes } } };
}

/** Records a batch of rendered letters and their PDFs in one transaction; returns the ones recorded. */
async function recordRendered(ctx: DispatchContext, letters: RenderedLetter[], job: JobInfo): Promise<Dispatch[]> {
  const at = nowIso();
  return writeTx(ctx.db, async (trx) => {
    const stored: Dispatch[] = [];
    const documents: RenderedDocument[] = [];
    for (const { d, recipient, template, subject, rendered } of letters) {
      const res = await trx
        .updateTable('dispatches')
        .set({
          state: 'rendered',
          recipient_snapshot: JSON.stringify(recipient),
          language: template.meta.language,
          template_id: template.meta.id,
          template_version: template.meta.version,
          template_sha256: template.sha256,
          subject,
          pdf_sha256: rendered.sha256,
          pages: rendered.pages,
          pdf_path: null,
          error: null,
          rendered_at: at,
          updated_at: at,
        })
        .where('id', '=', d.id)
        .where('state', 'in', ['pending', 'queued'])
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) continue;
      await appendEvent(trx, {
        type: 'dispatch.rendered',
        campaignId: d.campaign_id,
        dispatchId: d.id,
        actor: ctx.actor,
        at,
        data: {
          language: template.meta.language,
          template_id: template.meta.id,
          template_version: template.meta.version,
          template_sha256: template.sha256,
          pdf_sha256: rendered.sha256,
          pages: rendered.pages,
          job: job.id,
        },
      });
      stored.push(d);
      documents.push({ dispatchId: d.id, bytes: rendered.bytes });
    }
    await storeDocuments(trx, documents);
    return stored;
  });
}

/** Job states in which another job still owns a dispatch it claimed. */
const LIVE_JOB_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Send step. Exactly once per government:
 * - claim in the store (queued|rendered -> sending, only while the campaign is sending);
 *   no affected row means someone else has it, it is done, or the campaign is paused;
 * - sent already: nothing;
 * - found in 'sending' with no live job behind it (a crash between claim and record): resent
 *   with the same Message-ID and marked possible_duplicate, with an event;
 * - after the server accepts: sent + Message-ID + the server's reply.
 */
export async function processSend(ctx: DispatchContext, payload: SendPayload, job: JobInfo): Promise<StepOutcome> {
  if (!ctx.mailer) throw new Error('processSend needs a mailer in its context');
  const d0 = await getDispatch(ctx.db, payload.dispatchId);
  if (!d0) return 'missing';
  if ((TERMINAL_STATES as readonly string[]).includes(d0.state)) return 'skipped-done';
  if (d0.state === 'pending' || d0.state === 'queued') {
    if (!d0.pdf_sha256) return 'skipped-done'; // not rendered yet: its render job enqueues the send
  }
  const at = nowIso();
  let duplicate = false;
  // Reminders go out while the campaign is sending or done, and only while no reply is on record.
  const campaignStates: CampaignState[] = d0.kind === 'reminder' ? [...REMINDER_CAMPAIGN_STATES] : ['sending'];
  const noReplyYet = d0.original_dispatch_id ?? '';

  if (d0.state === 'sending') {
    if (d0.claim_job && d0.claim_job !== job.id) {
      const other = await ctx.queues.send.getJob(d0.claim_job);
      const state = other ? await other.getState() : 'unknown';
      if (LIVE_JOB_STATES.has(state)) return 'skipped-held';
    }
    const taken = await writeTx(ctx.db, async (trx) => {
      const res = await trx
        .updateTable('dispatches')
        .set({ claim_job: job.id, possible_duplicate: 1, attempts: d0.attempts + 1, updated_at: at })
        .where('id', '=', d0.id)
        .where('state', '=', 'sending')
        .where((eb) => (d0.claim_job === null ? eb('claim_job', 'is', null) : eb('claim_job', '=', d0.claim_job)))
        .where((eb) => eb(eb.selectFrom('campaigns').select('state').where('id', '=', d0.campaign_id), 'in', campaignStates))
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await appendEvent(trx, {
        type: 'dispatch.possible-duplicate',
        campaignId: d0.campaign_id,
        dispatchId: d0.id,
        actor: ctx.actor,
        at,
        data: { reason: 'found in sending: the previous attempt ended between claim and record', previous_job: d0.claim_job, job: job.id },
      });
      return true;
    }, { durable: true, shared: true });
    if (!taken) return 'skipped-paused';
    duplicate = true;
  } else {
    // Durable: the claim must survive even a power loss before the message leaves (store/db.ts).
    const claimed = await writeTx(ctx.db, async (trx) => {
      let claim = trx
        .updateTable('dispatches')
        .set({ state: 'sending', claim_job: job.id, attempts: d0.attempts + 1, updated_at: at })
        .where('id', '=', d0.id)
        .where('state', 'in', ['queued', 'rendered'])
        .where('pdf_sha256', 'is not', null)
        .where((eb) => eb(eb.selectFrom('campaigns').select('state').where('id', '=', d0.campaign_id), 'in', campaignStates));
      if (d0.kind === 'reminder') {
        // A reply recorded a second before wins: same transaction lock, so no reminder after it.
        claim = claim.where((eb) => eb.not(eb.exists(eb.selectFrom('replies').select('replies.id').where('replies.dispatch_id', '=', noReplyYet).where('replies.replaced_by', 'is', null))));
      }
      const res = await claim.executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await appendEvent(trx, { type: 'dispatch.sending', campaignId: d0.campaign_id, dispatchId: d0.id, actor: ctx.actor, at, data: { job: job.id, attempt: job.attemptsMade + 1 } });
      return true;
    }, { durable: true, shared: true });
    if (!claimed) {
      if (d0.kind === 'reminder' && (await cancelReminderIfReplied(ctx, d0))) return 'skipped-done';
      const now = await getDispatch(ctx.db, d0.id);
      return now && now.state === 'sending' ? 'skipped-held' : now && (TERMINAL_STATES as readonly string[]).includes(now.state) ? 'skipped-done' : 'skipped-paused';
    }
  }

  // From here the dispatch is ours, in 'sending', exactly as the claim above wrote it.
  const d: typeof d0 = duplicate
    ? { ...d0, claim_job: job.id, possible_duplicate: 1, attempts: d0.attempts + 1, updated_at: at }
    : { ...d0, state: 'sending', claim_job: job.id, attempts: d0.attempts + 1, updated_at: at };
  const campaign = await getCampaignForSend(ctx.db, d.campaign_id);
  const recipient: Recipient = recipientSchema.parse(JSON.parse(d.recipient_snapshot!));
  // The document sent must be the one rendered and recorded: check the hash before it leaves.
  const doc = await loadCheckedDocument(ctx.db, ctx.cfg.paths.home, d);
  if ('problem' in doc) {
    await writeTx(ctx.db, (trx) => markFailed(trx, ctx, d, ['sending'], `stored PDF ${doc.problem}`));
    throw new UnrecoverableError(`send ${d.id}: stored PDF ${doc.problem}`);
  }
  const pdf = doc.bytes;
  const mail =
    d.kind === 'reminder'
      ? await reminderMail(ctx, campaign, d, recipient, pdf)
      : noteMessage(ctx.cfg, {
          dispatchId: d.id,
          reference: campaign.reference,
          subject: d.subject ?? '',
          language: d.language ?? recipient.language,
          letterDate: campaign.letter_date,
          replyBy: campaign.reply_by,
          recipient,
          pdf,
        });

  let result;
  try {
    result = await ctx.mailer.send(mail);
  } catch (err) {
    return handleSendError(ctx, d, job, err, duplicate);
  }

  const sentAt = nowIso();
  const response = result.rejected.length > 0 ? `${result.response} (rejected: ${result.rejected.join(', ')})` : result.response;
  await writeTx(ctx.db, async (trx) => {
    const res = await trx
      .updateTable('dispatches')
      .set({ state: 'sent', message_id: mail.messageId, smtp_response: response, error: null, claim_job: null, sent_at: sentAt, updated_at: sentAt })
      .where('id', '=', d.id)
      .where('state', '=', 'sending')
      .where('claim_job', '=', job.id)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return;
    await appendEvent(trx, {
      type: 'dispatch.sent',
      campaignId: d.campaign_id,
      dispatchId: d.id,
      actor: ctx.actor,
      at: sentAt,
      data: {
        message_id: mail.messageId,
        smtp_response: response,
        from: mail.from,
        to: mail.to,
        cc: mail.cc,
        subject: mail.subject,
        attachment: mail.attachments[0]?.filename,
        pdf_sha256: d.pdf_sha256,
        transport: ctx.mailer!.kind,
        attempt: job.attemptsMade + 1,
        possible_duplicate: d.possible_duplicate === 1,
        ...(d.kind === 'reminder' ? { kind: 'reminder', reminder_key: d.reminder_key, original_dispatch_id: d.original_dispatch_id, letter_date: d.letter_date } : {}),
      },
    });
    await completeIfDone(trx, ctx, d.campaign_id);
  }, { shared: true });
  return 'sent';
}

/** nodemailer's stage of the SMTP dialogue at which it failed, when it says. */
function failedBeforeData(err: unknown): boolean {
  const field = (name: string) => (typeof err === 'object' && err && name in err ? String((err as Record<string, unknown>)[name]) : '');
  const command = field('command');
  const code = field('code');
  if (/^(GREETING|EHLO|HELO|LHLO|STARTTLS|AUTH|MAIL FROM|RCPT TO)/i.test(command) || ['ECONNREFUSED', 'EDNS', 'ENOTFOUND', 'EENVELOPE'].includes(code)) return true;
  // nodemailer reports every socket error and the socket timeout as command 'CONN', whatever the
  // stage, a timeout while the server holds our DATA included: only a connection that was never
  // made (refused, unreachable, connect or greeting timeout) is certainly not a delivery.
  if (/^CONN/i.test(command)) {
    return ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(field('originalCode')) || ['CONNECT_TIMEOUT', 'GREETING_TIMEOUT'].includes(field('timeoutType'));
  }
  return false;
}

async function handleSendError(ctx: DispatchContext, d: { id: string; campaign_id: string; possible_duplicate: number }, job: JobInfo, err: unknown, duplicate: boolean): Promise<StepOutcome> {
  const c = classifySmtpError(err);
  const reply = c.response ?? message(err);
  const text = `${c.code ? `${c.code} ` : ''}${message(err)}`;
  const at = nowIso();
  if (c.kind === 'permanent') {
    await writeTx(ctx.db, (trx) => markFailed(trx, ctx, d, ['sending'], `SMTP ${text}`, { smtp_response: reply }));
    throw new UnrecoverableError(`send ${d.id}: permanent failure: ${text}`);
  }
  // The server said no (a reply code) or we never reached DATA: certainly not delivered.
  const notDelivered = c.code !== undefined || failedBeforeData(err);
  if (c.kind === 'config') {
    await writeTx(ctx.db, async (trx) => {
      await trx.updateTable('dispatches').set({ state: 'rendered', claim_job: null, error: `SMTP configuration: ${text}`, updated_at: at, ...(notDelivered ? {} : { possible_duplicate: 1 }) }).where('id', '=', d.id).where('state', '=', 'sending').execute();
      await appendEvent(trx, { type: 'dispatch.deferred', campaignId: d.campaign_id, dispatchId: d.id, actor: ctx.actor, at, data: { error: text, kind: 'config' } });
    });
    await pauseFromWorker(ctx.db, d.campaign_id, ctx.actor, `SMTP configuration error: ${text}`);
    ctx.log(`campaign ${d.campaign_id} paused: SMTP configuration error: ${text}`);
    return 'paused-campaign';
  }
  // Transient: BullMQ retries with exponential backoff until SEND_ATTEMPTS.
  const last = job.attemptsMade + 1 >= job.attempts;
  if (last) {
    await writeTx(ctx.db, (trx) =>
      markFailed(trx, ctx, d, ['sending'], `SMTP ${text} (gave up after ${job.attempts} attempts)`, { smtp_response: reply, possible_duplicate: notDelivered && !duplicate ? 0 : 1 }),
    );
    throw new UnrecoverableError(`send ${d.id}: gave up after ${job.attempts} attempts: ${text}`);
  }
  await writeTx(ctx.db, async (trx) => {
    // Certainly not delivered: back to 'rendered' for the next attempt. Outcome unknown (the
    // connection died during DATA): stay 'sending' under this job, so the retry is a marked resend.
    if (notDelivered) {
      await trx.updateTable('dispatches').set({ state: 'rendered', claim_job: null, error: text, smtp_response: reply, updated_at: at }).where('id', '=', d.id).where('state', '=', 'sending').where('claim_job', '=', job.id).execute();
    } else {
      await trx.updateTable('dispatches').set({ error: text, updated_at: at }).where('id', '=', d.id).execute();
    }
    await appendEvent(trx, { type: 'dispatch.deferred', campaignId: d.campaign_id, dispatchId: d.id, actor: ctx.actor, at, data: { error: text, smtp_response: reply, attempt: job.attemptsMade + 1, of: job.attempts, delivered: notDelivered ? 'no' : 'unknown' } });
  });
  throw err instanceof Error ? err : new Error(text);
}

/**
 * BullMQ gave up on a job without the step deciding (stalled too often, attempts exhausted by
 * an unexpected error): the dispatch must not stay open silently. Marked failed; retry --failed
 * re-enqueues it; a dispatch that was in 'sending' is a possible duplicate if resent.
 */
export async function giveUpDispatch(ctx: DispatchContext, payload: RenderPayload | SendPayload, reason: string, queue: 'render' | 'send'): Promise<void> {
  const ids = renderDispatchIds(payload);
  await writeTx(ctx.db, async (trx) => {
    for (const id of ids) {
      const d = await trx.selectFrom('dispatches').select(['id', 'campaign_id', 'state']).where('id', '=', id).executeTakeFirst();
      if (!d || (TERMINAL_STATES as readonly string[]).includes(d.state)) continue;
      // A render job answers for the letters it had not rendered yet; a rendered one is its send
      // job's (`campaign send` again re-enqueues one left without a job).
      if (queue === 'render' && d.state !== 'pending' && d.state !== 'queued') continue;
      await markFailed(trx, ctx, d, [d.state], `worker gave up: ${reason}`, { possible_duplicate: d.state === 'sending' ? 1 : 0 });
    }
  });
}

export { jobIdFor };
