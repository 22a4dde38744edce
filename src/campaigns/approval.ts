import { createHash } from 'node:crypto';
import type { Config } from '../config.ts';
import { InputError } from '../errors.ts';
import { recipientFingerprint, selectAudience, type Recipient } from '../registry/index.ts';
import type { Db } from '../store/db.ts';
import { appendEvent, canonicalJson } from '../store/events.ts';
import type { AuthMethod } from '../store/schema.ts';
import { nowIso, writeTx } from '../store/tx.ts';
import { loadTemplateVersions, type Template } from '../templates/index.ts';
import { runPreflight } from './preflight.ts';
import { reminderTemplateId } from './reminder.ts';
import { getCampaign, type Campaign } from './repo.ts';
import { storeTemplateSources } from './template-sources.ts';

/**
 * Approval covers the exact documents: the hash of every language version of the template and
 * of its reminder template (their texts are stored for the workers: ./template-sources.ts), the
 * fingerprint of every recipient in the audience, and the campaign's parameters. Any change after
 * approval changes the fingerprint: send and resume refuse until approved again, and the workers
 * render only the approved texts.
 */
export type ApprovalDetail = {
  /** language -> template file sha256 */
  templates: Record<string, string>;
  /** recipient id -> recipientFingerprint */
  recipients: Record<string, string>;
  /**
   * language -> sha256 of the reminder template (<template id>-reminder) the campaign's reminders
   * use. Absent when it has none, and in approvals recorded before reminders were covered (those
   * still hold: checkApproval looks at the reminder template only when the approval did).
   */
  reminder_templates?: Record<string, string>;
  params: { template_id: string; reference: string; audience: string; letter_date: string; reply_by: string; remind_offsets: number[] };
};

export function approvalDetail(campaign: Campaign, versions: Template[], recipients: Recipient[], reminderVersions: Template[] = []): ApprovalDetail {
  const fps: Record<string, string> = {};
  for (const r of recipients) fps[r.id] = recipientFingerprint(r);
  return {
    templates: hashes(versions),
    recipients: fps,
    ...(reminderVersions.length > 0 ? { reminder_templates: hashes(reminderVersions) } : {}),
    params: {
      template_id: campaign.template_id,
      reference: campaign.reference,
      audience: campaign.audience,
      letter_date: campaign.letter_date,
      reply_by: campaign.reply_by,
      remind_offsets: JSON.parse(campaign.remind_offsets) as number[],
    },
  };
}

function hashes(versions: Template[]): Record<string, string> {
  return Object.fromEntries(versions.map((v) => [v.meta.language, v.sha256]));
}

/**
 * The versions of the reminder template the campaign's reminders would use, as on disk now; none
 * when it has no reminder rounds or there is no such template (its reminders then fail to render,
 * as they always did).
 */
export async function reminderVersions(cfg: Config, campaign: Campaign): Promise<Template[]> {
  if ((JSON.parse(campaign.remind_offsets) as number[]).length === 0) return [];
  try {
    return await loadTemplateVersions(cfg.paths.templates, reminderTemplateId(campaign));
  } catch (err) {
    if (err instanceof InputError && /^no template /.test(err.message)) return [];
    throw err;
  }
}

export function approvalFingerprint(detail: ApprovalDetail): string {
  return createHash('sha256').update(canonicalJson(detail)).digest('hex');
}

/** What differs between the approved detail and now, in words ("template cu-2009-92.fr changed"). */
export function approvalChanges(templateId: string, approved: ApprovalDetail, now: ApprovalDetail): string[] {
  const out: string[] = [];
  const versions = (id: string, a: Record<string, string> = {}, b: Record<string, string> = {}) => {
    for (const lang of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[lang] === b[lang]) continue;
      out.push(`template ${id}.${lang} ${a[lang] === undefined ? 'added' : b[lang] === undefined ? 'removed' : 'changed'}`);
    }
  };
  versions(templateId, approved.templates, now.templates);
  versions(`${templateId}-reminder`, approved.reminder_templates, now.reminder_templates);
  for (const key of Object.keys(approved.params) as (keyof ApprovalDetail['params'])[]) {
    if (canonicalJson(approved.params[key]) !== canonicalJson(now.params[key])) out.push(`${key.replace(/_/g, '-')} changed`);
  }
  for (const rid of new Set([...Object.keys(approved.recipients), ...Object.keys(now.recipients)])) {
    const a = approved.recipients[rid];
    const b = now.recipients[rid];
    if (a === b) continue;
    out.push(a === undefined ? `recipient ${rid} joined the audience` : b === undefined ? `recipient ${rid} left the audience` : `recipient ${rid} changed`);
  }
  return out;
}

/**
 * The detail of the campaign as it stands now (templates on disk, registry in the store); with
 * the reminder template when `reminders` (the approval covered it).
 */
export async function currentApprovalDetail(db: Db, cfg: Config, campaign: Campaign, reminders: boolean): Promise<{ detail: ApprovalDetail; versions: Template[]; recipients: Recipient[] }> {
  const versions = await loadTemplateVersions(cfg.paths.templates, campaign.template_id);
  const recipients = await selectAudience(db, campaign.audience);
  const reminding = reminders ? await reminderVersions(cfg, campaign) : [];
  return { detail: approvalDetail(campaign, versions, recipients, reminding), versions, recipients };
}

/**
 * Throws unless the campaign is approved and nothing it covers has changed since.
 * Returns the approved recipients (the audience as approved).
 */
export async function checkApproval(db: Db, cfg: Config, campaign: Campaign): Promise<{ recipients: Recipient[]; versions: Template[] }> {
  if (!campaign.approval_fingerprint || !campaign.approval_detail) throw new InputError(`campaign ${campaign.id} is not approved: chancery campaign approve ${campaign.id} --by NAME`);
  const approved = JSON.parse(campaign.approval_detail) as ApprovalDetail;
  const { detail, versions, recipients } = await currentApprovalDetail(db, cfg, campaign, approved.reminder_templates !== undefined);
  if (approvalFingerprint(detail) !== campaign.approval_fingerprint) {
    const changes = approvalChanges(campaign.template_id, approved, detail);
    throw new InputError(`campaign ${campaign.id} needs approval again: ${summarize(changes)}`);
  }
  return { recipients, versions };
}

export function summarize(changes: string[]): string {
  if (changes.length === 0) return 'its content changed';
  if (changes.length <= 5) return changes.join(', ');
  return `${changes.slice(0, 5).join(', ')} and ${changes.length - 5} more`;
}

/**
 * `campaign approve ID --by NAME`: someone other than the creator, after a clean preflight
 * (every letter merged and rendered), records the fingerprint of what was approved. `auth`: how
 * the approver was authenticated, for the audit.
 */
export async function approveCampaign(db: Db, cfg: Config, id: string, by: string, auth?: AuthMethod): Promise<Campaign> {
  const approver = by.trim();
  if (!approver) throw new InputError('--by: the approver name is empty');
  const campaign = await getCampaign(db, id);
  if (approver.toLowerCase() === campaign.created_by.trim().toLowerCase()) {
    throw new InputError(`campaign ${id}: the approver must be someone other than its creator (${campaign.created_by})`);
  }
  if (!['draft', 'approved', 'paused'].includes(campaign.state)) {
    throw new InputError(`campaign ${id} is ${campaign.state}: only a draft, approved or paused campaign can be approved`);
  }
  const pre = await runPreflight(db, cfg, campaign);
  if (pre.gaps.length > 0) {
    throw new InputError(`campaign ${id} has ${pre.gaps.length} preflight gap(s): see chancery campaign preflight ${id}`);
  }
  const reminding = await reminderVersions(cfg, campaign);
  const detail = approvalDetail(campaign, pre.versions, pre.recipients, reminding);
  const fingerprint = approvalFingerprint(detail);
  const at = nowIso();
  await writeTx(db, async (trx) => {
    // Compare-and-set on updated_at: a concurrent edit between preflight and here means approving stale content.
    const res = await trx
      .updateTable('campaigns')
      .set({
        approved_by: approver,
        approved_at: at,
        approval_fingerprint: fingerprint,
        approval_detail: canonicalJson(detail),
        state: campaign.state === 'draft' ? 'approved' : campaign.state,
        updated_at: at,
      })
      .where('id', '=', id)
      .where('updated_at', '=', campaign.updated_at)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new InputError(`campaign ${id} changed while it was being approved: approve again`);
    // The exact texts approved, for the workers (which read no templates folder).
    await storeTemplateSources(trx, [...pre.versions, ...reminding]);
    await appendEvent(trx, {
      type: 'campaign.approved',
      campaignId: id,
      actor: approver,
      at,
      data: { fingerprint, templates: detail.templates, recipients: Object.keys(detail.recipients).length, created_by: campaign.created_by, ...(auth ? { auth } : {}) },
    });
  });
  return getCampaign(db, id);
}
