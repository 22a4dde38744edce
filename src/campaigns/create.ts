import { addDays } from '../clock.ts';
import type { Config } from '../config.ts';
import { InputError } from '../errors.ts';
import { controlCharacter, selectAudience } from '../registry/index.ts';
import type { Db } from '../store/db.ts';
import type { AuthMethod } from '../store/schema.ts';
import { appendEvent } from '../store/events.ts';
import { nowIso, writeTx } from '../store/tx.ts';
import { loadTemplateVersions } from '../templates/index.ts';
import { checkIsoDate, getCampaign, newCampaignId, parseRemindOffsets, type Campaign } from './repo.ts';
import { allocateReference, parseReference, recordReferenceUsed, requestedSeries } from './references.ts';

export type CreateCampaignInput = {
  templateId: string;
  /** "CU 2009/92 (A)" or "next:CU". */
  reference: string;
  audience: string;
  replyBy: string;
  /** Defaults to the template's letterDate. */
  letterDate?: string;
  /** "14,3" or [14, 3]: days before reply-by. */
  remind?: string | number[];
  /** Creator; the approver must be someone else. */
  by: string;
  /** How the creator was authenticated, for the audit (absent: not said). */
  auth?: AuthMethod;
  /** Messages per minute for this campaign (on top of the global SEND_RATE_PER_MINUTE). */
  ratePerMinute?: number;
  /** One more reminder this many days after reply-by (src/deadlines). */
  overdueRemind?: number;
};

/** Validates everything, then inserts the campaign (and allocates its reference) in one transaction. */
export async function createCampaign(db: Db, cfg: Config, input: CreateCampaignInput): Promise<Campaign> {
  const by = input.by.trim();
  if (!by) throw new InputError('--by: the creator name is empty');
  const versions = await loadTemplateVersions(cfg.paths.templates, input.templateId);
  if (versions.length === 0) throw new InputError(`--template: no template "${input.templateId}" in ${cfg.paths.templates}`);
  const letterDate = checkIsoDate(input.letterDate ?? versions[0]!.meta.letterDate, '--letter-date');
  const replyBy = checkIsoDate(input.replyBy, '--reply-by');
  if (replyBy < letterDate) throw new InputError(`--reply-by: ${replyBy} is before the letter date ${letterDate}`);
  const remind = Array.isArray(input.remind) ? parseRemindOffsets(input.remind.join(',')) : parseRemindOffsets(input.remind);
  // A reminder recalls a note already written: it falls after the letter date (and, counted
  // back from the reply-by date, always before it).
  for (const n of remind) {
    const dueOn = addDays(replyBy, -n);
    if (dueOn <= letterDate) {
      throw new InputError(`--remind: ${n} days before the reply-by date ${replyBy} is ${dueOn}, not after the letter date ${letterDate}`);
    }
  }
  if (input.ratePerMinute !== undefined && (!Number.isInteger(input.ratePerMinute) || input.ratePerMinute < 1)) {
    throw new InputError(`--rate: "${input.ratePerMinute}" is not a positive whole number of messages per minute`);
  }
  if (input.overdueRemind !== undefined && (!Number.isInteger(input.overdueRemind) || input.overdueRemind < 1 || input.overdueRemind > 365)) {
    throw new InputError(`--overdue-remind: "${input.overdueRemind}" is not a whole number of days from 1 to 365`);
  }
  if (remind.length > 0 || input.overdueRemind !== undefined) {
    // Reminders are letters too: their template must exist before anything is scheduled.
    const reminderId = `${input.templateId}-reminder`;
    if ((await loadTemplateVersions(cfg.paths.templates, reminderId)).length === 0) {
      throw new InputError(`--remind: no reminder template "${reminderId}" in ${cfg.paths.templates} (templates/${reminderId}.<lang>.md)`);
    }
  }
  const audience = input.audience.trim();
  const members = await selectAudience(db, audience);
  if (members.length === 0) throw new InputError(`--audience: "${audience}" selects no recipient`);

  const series = requestedSeries(input.reference.trim());
  const explicit = series ? undefined : input.reference.trim();
  if (explicit !== undefined) {
    const control = controlCharacter(explicit);
    if (explicit === '' || control !== undefined || explicit.length > 100) {
      throw new InputError(`--reference: ${control ? `contains a control character (${control}); it ` : ''}must be one line of at most 100 characters, e.g. "CU 2009/92 (A)" or next:CU`);
    }
  }

  const id = newCampaignId();
  const at = nowIso();
  await writeTx(db, async (trx) => {
    let reference: string;
    let parsed = explicit !== undefined ? parseReference(explicit) : undefined;
    if (series) {
      const allocated = await allocateReference(trx, series, Number(letterDate.slice(0, 4)), by, at, id);
      reference = allocated.reference;
      parsed = allocated;
    } else {
      reference = explicit!;
      if (parsed) await recordReferenceUsed(trx, parsed, at);
    }
    await trx
      .insertInto('campaigns')
      .values({
        id,
        template_id: input.templateId,
        reference,
        reference_series: parsed?.series ?? null,
        reference_year: parsed?.year ?? null,
        reference_number: parsed?.number ?? null,
        audience,
        letter_date: letterDate,
        reply_by: replyBy,
        remind_offsets: JSON.stringify(remind),
        state: 'draft',
        state_reason: null,
        rate_per_minute: input.ratePerMinute ?? null,
        created_by: by,
        created_at: at,
        approved_by: null,
        approved_at: null,
        approval_fingerprint: null,
        approval_detail: null,
        enqueue_round: 1,
        updated_at: at,
        overdue_remind: input.overdueRemind ?? null,
      })
      .execute();
    await appendEvent(trx, {
      type: 'campaign.created',
      campaignId: id,
      actor: by,
      at,
      data: { template_id: input.templateId, reference, audience, audience_size: members.length, letter_date: letterDate, reply_by: replyBy, remind_offsets: remind, ...(input.auth ? { auth: input.auth } : {}), ...(input.overdueRemind !== undefined ? { overdue_remind: input.overdueRemind } : {}) },
    });
  });
  return getCampaign(db, id);
}
