import type { Insertable } from 'kysely';
import type { Config } from '../config.ts';
import { InputError } from '../errors.ts';
import { dispatchIdFor, type Queues } from '../queue/queues.ts';
import { batches } from '../store/batches.ts';
import type { Db } from '../store/db.ts';
import { appendEvent, appendEvents, type EventInput } from '../store/events.ts';
import { DISPATCH_STATES, type DispatchesTable, type DispatchState } from '../store/schema.ts';
import { nowIso, writeTx, type Trx } from '../store/tx.ts';
import { checkApproval } from './approval.ts';
import { loadConfig } from '../config.ts';
import { storeClock } from '../clock.ts';
import { enqueuePending } from './enqueue.ts';
import { campaignFollowUp, type FollowUp } from './followup.ts';
import { openRemindQueue, sweepReminders } from './reminder-jobs.ts';
import { cancelRemindersTx, rescheduleRemindersTx, scheduleRemindersTx } from './reminder-schedule.ts';
import { checkIsoDate, getCampaign, type Campaign } from './repo.ts';

/**
 * Campaign lifecycle: send (dispatch rows + jobs), pause, resume, cancel, retry, set-reply-by.
 * State lives in the store; workers read it before every step, so pausing or cancelling here
 * takes effect for every worker on every machine.
 */

/**
 * Creates one dispatch per approved recipient (one transaction; the unique index makes a second
 * call a no-op), marks the campaign sending, and enqueues every dispatch not yet done.
 */
export async function startSend(db: Db, cfg: Config, queues: Queues, id: string, actor: string): Promise<{ campaign: Campaign; created: number; enqueued: number }> {
  const campaign = await getCampaign(db, id);
  if (campaign.state === 'paused') throw new InputError(`campaign ${id} is paused${campaign.state_reason ? ` (${campaign.state_reason})` : ''}: chancery campaign resume ${id}`);
  if (campaign.state === 'cancelled' || campaign.state === 'done') throw new InputError(`campaign ${id} is ${campaign.state === 'done' ? 'already sent' : 'cancelled'}`);
  if (campaign.state === 'draft') throw new InputError(`campaign ${id} is not approved: chancery campaign approve ${id} --by NAME`);
  const { recipients } = await checkApproval(db, cfg, campaign);
  const at = nowIso();
  const clockNow = await storeClock(db).now();
  let created = 0;
  await writeTx(db, async (trx) => {
    const existing = new Set(
      (await trx.selectFrom('dispatches').select('recipient_id').where('campaign_id', '=', id).where('kind', '=', 'note').execute()).map((r) => r.recipient_id),
    );
    // In batches of rows (one INSERT each) and one append for all their events: a campaign of
    // 10,000 started in a quarter of the time, while the workers wait for its first jobs.
    const rows: Insertable<DispatchesTable>[] = [];
    const events: EventInput[] = [];
    for (const r of recipients) {
      if (existing.has(r.id)) continue;
      const dispatchId = dispatchIdFor(id, r.id, 'note');
      rows.push({
        id: dispatchId,
        campaign_id: id,
        recipient_id: r.id,
        kind: 'note',
        state: 'pending',
        recipient_snapshot: null,
        language: null,
        template_id: null,
        template_version: null,
        template_sha256: null,
        subject: null,
        pdf_sha256: null,
        pages: null,
        pdf_path: null,
        message_id: null,
        smtp_response: null,
        claim_job: null,
        attempts: 0,
        possible_duplicate: 0,
        error: null,
        created_at: at,
        updated_at: at,
        rendered_at: null,
        sent_at: null,
      });
      events.push({ type: 'dispatch.created', campaignId: id, dispatchId, actor, at, data: { recipient_id: r.id, kind: 'note' } });
    }
    for (const batch of batches(rows)) await trx.insertInto('dispatches').values(batch).execute();
    await appendEvents(trx, events);
    created = rows.length;
    if (campaign.state === 'approved') {
      await setCampaignState(trx, campaign, 'sending', null, actor, 'campaign.send-started', { dispatches: existing.size + created });
      // The reminder rounds (./reminder-schedule.ts), in the store with the send itself.
      await scheduleRemindersTx(trx, cfg, campaign, clockNow, actor);
    } else {
      // Sent again while sending (after --detach, or after this command was interrupted): fresh
      // job ids for whatever is still open, since the earlier jobs may be finished in BullMQ.
      // A job still running elsewhere is harmless: the claim in the store decides who sends.
      await trx.updateTable('campaigns').set({ enqueue_round: campaign.enqueue_round + 1 }).where('id', '=', id).execute();
    }
  });
  const enqueued = await enqueuePending(db, queues, id, actor);
  // Delayed jobs for the reminder rounds (the periodic sweep would also create them).
  const remind = openRemindQueue(cfg, queues.connection);
  try {
    await sweepReminders({ db, queues, actor }, remind, storeClock(db));
  } finally {
    await remind.close();
  }
  return { campaign: await getCampaign(db, id), created, enqueued };
}

/** Sets a campaign's state with its audit event, inside the caller's transaction. */
export async function setCampaignState(
  trx: Trx,
  campaign: Pick<Campaign, 'id' | 'state'>,
  state: Campaign['state'],
  reason: string | null,
  actor: string,
  eventType: string,
  data: Record<string, unknown> = {},
): Promise<boolean> {
  const at = nowIso();
  const res = await trx
    .updateTable('campaigns')
    .set({ state, state_reason: reason, updated_at: at })
    .where('id', '=', campaign.id)
    .where('state', '=', campaign.state)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await appendEvent(trx, { type: eventType, campaignId: campaign.id, actor, at, data: { from: campaign.state, to: state, ...(reason ? { reason } : {}), ...data } });
  return true;
}

/** Stops new sends: workers leave this campaign's jobs alone until resume. */
export async function pauseCampaign(db: Db, id: string, actor: string, reason: string | null = null): Promise<Campaign> {
  const campaign = await getCampaign(db, id);
  if (campaign.state === 'paused') return campaign;
  if (campaign.state !== 'sending') throw new InputError(`campaign ${id} is ${campaign.state}: only a campaign being sent can be paused`);
  await writeTx(db, async (trx) => {
    if (!(await setCampaignState(trx, campaign, 'paused', reason, actor, 'campaign.paused'))) throw new InputError(`campaign ${id} changed state meanwhile: try again`);
  });
  return getCampaign(db, id);
}

/**
 * Pauses a campaign from inside a worker (SMTP configuration error, content changed after
 * approval). Does nothing if it is no longer sending.
 */
export async function pauseFromWorker(db: Db, id: string, actor: string, reason: string): Promise<void> {
  await writeTx(db, async (trx) => {
    const c = await trx.selectFrom('campaigns').select(['id', 'state']).where('id', '=', id).executeTakeFirst();
    if (c && c.state === 'sending') await setCampaignState(trx, c, 'paused', reason, actor, 'campaign.paused');
  });
}

/**
 * Resumes a paused campaign: checks the approval still holds, then re-enqueues what is not done
 * under a new round of job ids (the jobs skipped while paused are finished in BullMQ).
 */
export async function resumeCampaign(db: Db, cfg: Config, queues: Queues, id: string, actor: string): Promise<{ campaign: Campaign; enqueued: number }> {
  const campaign = await getCampaign(db, id);
  if (campaign.state !== 'paused') throw new InputError(`campaign ${id} is ${campaign.state}, not paused`);
  await checkApproval(db, cfg, campaign);
  await writeTx(db, async (trx) => {
    if (!(await setCampaignState(trx, campaign, 'sending', null, actor, 'campaign.resumed'))) throw new InputError(`campaign ${id} changed state meanwhile: try again`);
    await trx.updateTable('campaigns').set({ enqueue_round: campaign.enqueue_round + 1 }).where('id', '=', id).execute();
  });
  const enqueued = await enqueuePending(db, queues, id, actor);
  return { campaign: await getCampaign(db, id), enqueued };
}

export type CancelReport = { campaign: Campaign; cancelled: number; sent: string[]; inFlight: string[] };

/**
 * Cancels what is not yet sent (one transaction); what was sent stays sent and is reported,
 * as are dispatches a worker is sending right now (their outcome is recorded when it ends).
 */
export async function cancelCampaign(db: Db, id: string, actor: string): Promise<CancelReport> {
  const campaign = await getCampaign(db, id);
  if (campaign.state === 'cancelled') throw new InputError(`campaign ${id} is already cancelled`);
  // A campaign sent in full may still have reminders pending: cancelling it cancels those.
  const pendingReminders =
    campaign.state === 'done'
      ? (await db.selectFrom('reminders').select('id').where('campaign_id', '=', id).where('state', '=', 'scheduled').execute()).length +
        (await db.selectFrom('dispatches').select('id').where('campaign_id', '=', id).where('kind', '=', 'reminder').where('state', 'in', ['pending', 'queued', 'rendered']).execute()).length
      : 0;
  if (campaign.state === 'done' && pendingReminders === 0) throw new InputError(`campaign ${id} is already sent in full; nothing to cancel`);
  let cancelled = 0;
  await writeTx(db, async (trx) => {
    const current = await trx.selectFrom('campaigns').select(['id', 'state']).where('id', '=', id).executeTakeFirstOrThrow();
    if (!(await setCampaignState(trx, current, 'cancelled', null, actor, 'campaign.cancelled'))) throw new InputError(`campaign ${id} changed state meanwhile: try again`);
    await cancelRemindersTx(trx, id, actor, 'campaign cancelled');
    const open = await trx.selectFrom('dispatches').select(['id', 'state']).where('campaign_id', '=', id).where('state', 'in', ['pending', 'queued', 'rendered']).execute();
    const at = nowIso();
    for (const d of open) {
      await trx.updateTable('dispatches').set({ state: 'cancelled', updated_at: at }).where('id', '=', d.id).where('state', '=', d.state).execute();
      await appendEvent(trx, { type: 'dispatch.cancelled', campaignId: id, dispatchId: d.id, actor, at, data: { from: d.state } });
      cancelled++;
    }
  });
  const rows = await db.selectFrom('dispatches').select(['recipient_id', 'state']).where('campaign_id', '=', id).where('state', 'in', ['sent', 'sending']).orderBy('recipient_id').execute();
  return {
    campaign: await getCampaign(db, id),
    cancelled,
    sent: rows.filter((r) => r.state === 'sent').map((r) => r.recipient_id),
    inFlight: rows.filter((r) => r.state === 'sending').map((r) => r.recipient_id),
  };
}

/** `retry --failed`: failed dispatches go back to the queue under new job ids. */
export async function retryFailed(db: Db, cfg: Config, queues: Queues, id: string, actor: string): Promise<{ requeued: number }> {
  const campaign = await getCampaign(db, id);
  if (campaign.state === 'cancelled') throw new InputError(`campaign ${id} is cancelled`);
  if (campaign.state === 'draft' || campaign.state === 'approved') throw new InputError(`campaign ${id} has not been sent yet`);
  await checkApproval(db, cfg, campaign);
  let requeued = 0;
  await writeTx(db, async (trx) => {
    const failed = await trx.selectFrom('dispatches').select(['id', 'pdf_sha256']).where('campaign_id', '=', id).where('state', '=', 'failed').execute();
    const at = nowIso();
    for (const d of failed) {
      // A document already rendered is sent as it was; one that failed to render is rendered again.
      const state: DispatchState = d.pdf_sha256 ? 'rendered' : 'queued';
      await trx.updateTable('dispatches').set({ state, claim_job: null, updated_at: at }).where('id', '=', d.id).where('state', '=', 'failed').execute();
      await appendEvent(trx, { type: 'dispatch.requeued', campaignId: id, dispatchId: d.id, actor, at, data: { to: state } });
      requeued++;
    }
    if (requeued > 0) {
      await trx.updateTable('campaigns').set({ enqueue_round: campaign.enqueue_round + 1 }).where('id', '=', id).execute();
      if (campaign.state === 'done') await setCampaignState(trx, campaign, 'sending', null, actor, 'campaign.retry', { requeued });
    }
  });
  if (requeued > 0) await enqueuePending(db, queues, id, actor);
  return { requeued };
}

/** Moves the reply-by date (validated: a real date, not before the letter date). */
export async function setReplyBy(db: Db, id: string, date: string, actor: string, cfg: Config = loadConfig()): Promise<Campaign> {
  const campaign = await getCampaign(db, id);
  const clockNow = await storeClock(db).now();
  const replyBy = checkIsoDate(date, 'reply-by');
  if (replyBy < campaign.letter_date) throw new InputError(`reply-by: ${replyBy} is before the letter date ${campaign.letter_date}`);
  if (campaign.state === 'cancelled') throw new InputError(`campaign ${id} is cancelled`);
  await writeTx(db, async (trx) => {
    const at = nowIso();
    await trx.updateTable('campaigns').set({ reply_by: replyBy, updated_at: at }).where('id', '=', id).execute();
    await appendEvent(trx, { type: 'campaign.reply-by-changed', campaignId: id, actor, at, data: { from: campaign.reply_by, to: replyBy } });
    // Pending reminder rounds move with the date; the sweep moves their jobs.
    await rescheduleRemindersTx(trx, cfg, { ...campaign, reply_by: replyBy }, clockNow, actor);
  });
  return getCampaign(db, id);
}

export type CampaignStatus = {
  campaign: Pick<Campaign, 'id' | 'reference' | 'template_id' | 'state' | 'state_reason' | 'letter_date' | 'reply_by' | 'created_by' | 'approved_by' | 'approved_at'>;
  counts: Record<DispatchState, number> & { total: number };
  dispatches: { recipient_id: string; kind: string; state: DispatchState; attempts: number; possible_duplicate: boolean; message_id: string | null; error: string | null; sent_at: string | null }[];
  testSends: number;
  /** Replies, reminders and overdue per recipient (./followup.ts). */
  followUp: FollowUp;
};

export async function campaignStatus(db: Db, id: string, cfg: Config = loadConfig()): Promise<CampaignStatus> {
  const c = await getCampaign(db, id);
  const rows = await db
    .selectFrom('dispatches')
    .select(['recipient_id', 'kind', 'state', 'attempts', 'possible_duplicate', 'message_id', 'error', 'sent_at'])
    .where('campaign_id', '=', id)
    .orderBy('recipient_id')
    .orderBy('kind')
    .execute();
  const counts = Object.fromEntries(DISPATCH_STATES.map((s) => [s, 0])) as Record<DispatchState, number>;
  for (const r of rows) counts[r.state]++;
  const tests = await db.selectFrom('test_sends').select((eb) => eb.fn.countAll<number>().as('n')).where('campaign_id', '=', id).executeTakeFirst();
  return {
    campaign: {
      id: c.id,
      reference: c.reference,
      template_id: c.template_id,
      state: c.state,
      state_reason: c.state_reason,
      letter_date: c.letter_date,
      reply_by: c.reply_by,
      created_by: c.created_by,
      approved_by: c.approved_by,
      approved_at: c.approved_at,
    },
    counts: { ...counts, total: rows.length },
    dispatches: rows.map((r) => ({ ...r, possible_duplicate: r.possible_duplicate === 1 })),
    testSends: Number(tests?.n ?? 0),
    followUp: await campaignFollowUp(db, cfg, storeClock(db), id),
  };
}
