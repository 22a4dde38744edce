import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadDocument } from '../campaigns/documents.ts';
import { approveCampaign } from '../campaigns/approval.ts';
import { createCampaign } from '../campaigns/create.ts';
import { campaignStatus, cancelCampaign, pauseCampaign, resumeCampaign, retryFailed, setReplyBy, startSend } from '../campaigns/lifecycle.ts';
import { runPreflight } from '../campaigns/preflight.ts';
import { getCampaign, mergeOptionsOf, type Campaign } from '../campaigns/repo.ts';
import { exportDispatches } from '../audit/dispatch-export.ts';
import { exportEvents } from '../audit/export.ts';
import { storeClock, zonedDate } from '../clock.ts';
import { InputError } from '../errors.ts';
import { chooseVersion, mergeDocument, type Gap } from '../merge/index.ts';
import { getRecipient, listRecipients, selectAudience, type Recipient } from '../registry/index.ts';
import { renderDocument } from '../render/index.ts';
import { appendEvent } from '../store/events.ts';
import { writeTx } from '../store/tx.ts';
import { checkTemplate, loadTemplate, loadTemplateVersions, scanTemplates, type BrokenTemplate, type TemplateCheck, type TemplateMeta } from '../templates/index.ts';
import { progressOf, type RunProgress } from '../../workers/run.ts';
import type { WebRuntime } from './context.ts';
import { can, type Permission } from './roles.ts';
import type { User } from './users.ts';

/**
 * The operations of the web console, shared by the pages and the JSON API: each checks the
 * user's role, then calls the same src/ function the command line calls, with the signed-in
 * user as the audit actor.
 */

export class HttpError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

export function need(user: User, permission: Permission, what: string): void {
  if (!can(user.role, permission)) throw new HttpError(403, `your role (${user.role}) may not ${what}`);
}

/** One audit event outside the domain functions (sign-in, preflight, export, registry edits). */
export async function recordEvent(rt: WebRuntime, actor: string, type: string, data: Record<string, unknown>, campaignId?: string): Promise<void> {
  await writeTx(rt.db, (trx) => appendEvent(trx, { type, actor, campaignId: campaignId ?? null, data }));
}

// ---------------------------------------------------------------- campaigns

export type CampaignSummary = Pick<Campaign, 'id' | 'reference' | 'template_id' | 'audience' | 'state' | 'state_reason' | 'letter_date' | 'reply_by' | 'created_by' | 'created_at' | 'approved_by'> & {
  total: number;
  sent: number;
  failed: number;
};

export async function listCampaigns(rt: WebRuntime): Promise<CampaignSummary[]> {
  const rows = await rt.db
    .selectFrom('campaigns')
    .select(['id', 'reference', 'template_id', 'audience', 'state', 'state_reason', 'letter_date', 'reply_by', 'created_by', 'created_at', 'approved_by'])
    .orderBy('created_at', 'desc')
    .execute();
  const counts = await rt.db
    .selectFrom('dispatches')
    .select(['campaign_id', 'state'])
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('kind', '=', 'note')
    .groupBy(['campaign_id', 'state'])
    .execute();
  return rows.map((c) => {
    const mine = counts.filter((r) => r.campaign_id === c.id);
    const n = (s: string) => Number(mine.find((r) => r.state === s)?.n ?? 0);
    return { ...c, total: mine.reduce((a, r) => a + Number(r.n), 0), sent: n('sent'), failed: n('failed') };
  });
}

export async function progress(rt: WebRuntime, id: string): Promise<RunProgress> {
  await getCampaign(rt.db, id); // a clear "unknown campaign" rather than a database error
  return progressOf({ db: rt.db }, id);
}

export type RecipientRow = {
  recipient_id: string;
  name: string;
  language: string;
  state: string;
  sent_at: string | null;
  attempts: number;
  possible_duplicate: boolean;
  error: string | null;
  /** From src/deadlines: the reply on record, reminders sent, overdue on the store's clock. */
  replied: { on: string; channel: string; their_reference: string | null } | null;
  reminders: string[];
  overdue: boolean;
};

export const ROW_FILTERS = ['all', 'not-replied', 'overdue', 'failed', 'not-sent'] as const;

/** What campaignRows needs from the follow-up (src/deadlines/followup.ts). */
export type FollowUpOf = Map<string, { replied: { on: string; channel: string; their_reference: string | null } | null; reminders: { state: string; date: string | null }[]; overdue: boolean }>;
export type RowFilter = (typeof ROW_FILTERS)[number];

/** One row per recipient of the audience: its dispatch when there is one, "not sent" before. */
export async function campaignRows(rt: WebRuntime, campaign: Campaign, filter: RowFilter, follow: FollowUpOf = new Map()): Promise<RecipientRow[]> {
  const status = await campaignStatus(rt.db, campaign.id);
  const byId = new Map(status.dispatches.filter((d) => d.kind === 'note').map((d) => [d.recipient_id, d]));
  let audience: Recipient[] = [];
  try {
    audience = await selectAudience(rt.db, campaign.audience);
  } catch {
    // An audience that no longer resolves (registry changed) still shows its dispatches.
  }
  const names = new Map(audience.map((r) => [r.id, r]));
  const ids = [...new Set([...audience.map((r) => r.id), ...byId.keys()])].sort();
  const rows = ids.map((rid): RecipientRow => {
    const d = byId.get(rid);
    const r = names.get(rid);
    const f = follow.get(rid);
    return {
      replied: f?.replied ? { on: f.replied.on, channel: f.replied.channel, their_reference: f.replied.their_reference } : null,
      reminders: (f?.reminders ?? []).filter((m) => m.state === 'sent').map((m) => m.date ?? '?'),
      overdue: f?.overdue ?? false,
      recipient_id: rid,
      name: r ? (r.names[r.language]?.short ?? rid) : rid,
      language: r?.language ?? '',
      state: d?.state ?? 'not sent',
      sent_at: d?.sent_at ?? null,
      attempts: d?.attempts ?? 0,
      possible_duplicate: d?.possible_duplicate ?? false,
      error: d && d.state !== 'sent' ? d.error : null,
    };
  });
  if (filter === 'failed') return rows.filter((r) => r.state === 'failed');
  if (filter === 'not-sent') return rows.filter((r) => r.state !== 'sent');
  if (filter === 'not-replied') return rows.filter((r) => r.state === 'sent' && !r.replied);
  if (filter === 'overdue') return rows.filter((r) => r.overdue);
  return rows;
}

export type CreateInput = { template: string; reference: string; audience: string; replyBy: string; letterDate?: string; remind?: string };

export async function doCreate(rt: WebRuntime, user: User, input: CreateInput): Promise<Campaign> {
  need(user, 'draft', 'create campaigns');
  return createCampaign(rt.db, rt.cfg, {
    templateId: input.template.trim(),
    reference: input.reference,
    audience: input.audience,
    replyBy: input.replyBy.trim(),
    letterDate: input.letterDate?.trim() || undefined,
    remind: input.remind?.trim() || undefined,
    by: user.name,
    auth: 'session',
  });
}

export async function doPreflight(rt: WebRuntime, user: User, id: string): Promise<{ recipients: number; rendered: number; gaps: Gap[] }> {
  need(user, 'preflight', 'run a preflight');
  const c = await getCampaign(rt.db, id);
  const r = await runPreflight(rt.db, rt.cfg, c);
  await recordEvent(rt, user.name, 'campaign.preflight', { recipients: r.recipients.length, rendered: r.rendered, gaps: r.gaps.length }, id);
  return { recipients: r.recipients.length, rendered: r.rendered, gaps: r.gaps };
}

export async function doApprove(rt: WebRuntime, user: User, id: string): Promise<Campaign> {
  need(user, 'approve', 'approve campaigns');
  return approveCampaign(rt.db, rt.cfg, id, user.name, 'session');
}

export async function doSend(rt: WebRuntime, user: User, id: string): Promise<{ created: number; enqueued: number }> {
  need(user, 'approve', 'send campaigns');
  const r = await startSend(rt.db, rt.cfg, rt.queues, id, user.name);
  return { created: r.created, enqueued: r.enqueued };
}

export async function doPause(rt: WebRuntime, user: User, id: string, reason: string | null): Promise<Campaign> {
  need(user, 'approve', 'pause campaigns');
  return pauseCampaign(rt.db, id, user.name, reason);
}

export async function doResume(rt: WebRuntime, user: User, id: string): Promise<{ enqueued: number }> {
  need(user, 'approve', 'resume campaigns');
  const r = await resumeCampaign(rt.db, rt.cfg, rt.queues, id, user.name);
  return { enqueued: r.enqueued };
}

export async function doCancel(rt: WebRuntime, user: User, id: string): Promise<{ cancelled: number; sent: number; inFlight: number }> {
  need(user, 'approve', 'cancel campaigns');
  const r = await cancelCampaign(rt.db, id, user.name);
  return { cancelled: r.cancelled, sent: r.sent.length, inFlight: r.inFlight.length };
}

export async function doRetry(rt: WebRuntime, user: User, id: string): Promise<{ requeued: number }> {
  need(user, 'approve', 'retry failed dispatches');
  return retryFailed(rt.db, rt.cfg, rt.queues, id, user.name);
}

export async function doSetReplyBy(rt: WebRuntime, user: User, id: string, date: string): Promise<Campaign> {
  need(user, 'draft', 'change the reply-by date');
  return setReplyBy(rt.db, id, date.trim(), user.name);
}

// ---------------------------------------------------------------- letters

export type Letter = { bytes: Buffer; kind: 'preview' | 'stored'; filename: string; sha256?: string };

/**
 * A recipient's letter: once rendered for sending, the stored PDF (the one that was or will be
 * sent, checked against its recorded hash); before that, a preview rendered now from the
 * campaign's template, reference and dates. Nothing is stored or recorded either way.
 */
export async function letterPdf(rt: WebRuntime, campaignId: string, recipientId: string): Promise<Letter> {
  const campaign = await getCampaign(rt.db, campaignId);
  const d = await rt.db.selectFrom('dispatches').selectAll().where('campaign_id', '=', campaignId).where('recipient_id', '=', recipientId).where('kind', '=', 'note').executeTakeFirst();
  const filename = `${campaign.reference.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}-${recipientId.replace(/[^A-Za-z0-9]+/g, '-')}.pdf`;
  if (d?.pdf_sha256) {
    const bytes = await loadDocument(rt.db, rt.cfg.paths.home, d);
    if (!bytes) throw new HttpError(404, `the stored letter of ${recipientId} is missing`);
    return { bytes, kind: 'stored', filename, sha256: d.pdf_sha256 };
  }
  const audience = await selectAudience(rt.db, campaign.audience);
  const recipient = audience.find((r) => r.id === recipientId);
  if (!recipient) throw new HttpError(404, `${recipientId} is not in the audience of campaign ${campaignId}`);
  const versions = await loadTemplateVersions(rt.cfg.paths.templates, campaign.template_id);
  const template = chooseVersion(versions, recipient);
  if (!template) throw new InputError(`template ${campaign.template_id} has no ${recipient.language} version and no fallback`);
  const rendered = await renderDocument(mergeDocument(template, recipient, mergeOptionsOf(campaign)));
  return { bytes: rendered.bytes, kind: 'preview', filename, sha256: rendered.sha256 };
}

// ---------------------------------------------------------------- templates

/** A template id: its language versions that load, and those that do not (file, line, error). */
export type TemplateGroup = { id: string; versions: TemplateMeta[]; broken: BrokenTemplate[] };

export async function templateGroups(rt: WebRuntime): Promise<TemplateGroup[]> {
  const { templates, broken } = await scanTemplates(rt.cfg.paths.templates);
  const groups = new Map<string, TemplateGroup>();
  const group = (id: string) => groups.get(id) ?? groups.set(id, { id, versions: [], broken: [] }).get(id)!;
  for (const m of templates) group(m.id).versions.push(m);
  for (const b of broken) group(b.id).broken.push(b);
  return [...groups.values()].sort((a, b) => a.id.localeCompare(b.id));
}

export async function templateChecks(rt: WebRuntime, id: string): Promise<TemplateCheck[]> {
  const versions = await loadTemplateVersions(rt.cfg.paths.templates, id);
  const custom = [...new Set((await listRecipients(rt.db)).flatMap((r) => Object.keys(r.custom)))];
  return versions.map((v) => checkTemplate(v, custom));
}

/** A template merged for one recipient, as the preview command does (nothing stored). */
export async function templatePreview(rt: WebRuntime, id: string, recipientId: string, lang?: string): Promise<Letter> {
  const recipient = await getRecipient(rt.db, recipientId);
  if (!recipient) throw new HttpError(404, `unknown recipient "${recipientId}"`);
  const template = lang ? await loadTemplate(rt.cfg.paths.templates, id, lang) : chooseVersion(await loadTemplateVersions(rt.cfg.paths.templates, id), recipient);
  if (!template) throw new InputError(`template ${id} has no ${recipient.language} version and no fallback`);
  const rendered = await renderDocument(mergeDocument(template, recipient));
  return { bytes: rendered.bytes, kind: 'preview', filename: `${id}-${recipientId.replace(/[^A-Za-z0-9]+/g, '-')}.pdf`, sha256: rendered.sha256 };
}

// ---------------------------------------------------------------- audit

export type AuditRows = 'events' | 'dispatches';

/**
 * The audit trail (of one campaign, or all) as CSV or JSON Lines, one row per event (default) or
 * per dispatch, as `chancery audit export [--events]` writes it; who exported it is recorded.
 */
export async function exportAudit(rt: WebRuntime, user: User, campaignId: string | undefined, format: 'csv' | 'jsonl', rows: AuditRows = 'events'): Promise<{ text: Buffer; count: number }> {
  need(user, 'read', 'export the audit trail');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-audit-'));
  try {
    const out = path.join(dir, `audit.${format}`);
    const { count } =
      rows === 'dispatches'
        ? await exportDispatches(rt.db, { campaignId, format, out, today: zonedDate(await storeClock(rt.db).now(), rt.cfg.DUTY_STATION_TZ) })
        : await exportEvents(rt.db, { campaignId, format, out });
    const text = fs.readFileSync(out);
    await recordEvent(rt, user.name, 'audit.exported', { format, [rows]: count, ...(campaignId ? {} : { scope: 'all' }) }, campaignId);
    return { text, count };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
