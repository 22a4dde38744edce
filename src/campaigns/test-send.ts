import { randomBytes } from 'node:crypto';
import type { Config } from '../config.ts';
import { InputError } from '../errors.ts';
import type { Mailer } from '../mail/index.ts';
import { chooseVersion, mergeDocument } from '../merge/index.ts';
import { getRecipient, selectAudience } from '../registry/index.ts';
import { renderDocument } from '../render/index.ts';
import type { Db } from '../store/db.ts';
import { appendEvent } from '../store/events.ts';
import { nowIso, writeTx } from '../store/tx.ts';
import { loadTemplateVersions } from '../templates/index.ts';
import { testMessage } from './message.ts';
import { getCampaign, mergeOptionsOf } from './repo.ts';

const EMAIL = /^[^\s@<>()",;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

export type TestSendResult = { id: string; recipientId: string; to: string; messageId: string; subject: string; pdfSha256: string; response: string };

/**
 * `campaign test-send ID --to ADDRESS [--recipient RID]`: one recipient's merged and rendered
 * note, to a staff address, TEST in the subject. Recorded in test_sends (and the audit trail),
 * never as a dispatch. Works on a draft too: testing comes before approval.
 */
export async function testSend(db: Db, cfg: Config, mailer: Mailer, id: string, opts: { to: string; recipientId?: string; by: string }): Promise<TestSendResult> {
  if (!EMAIL.test(opts.to)) throw new InputError(`--to: "${opts.to}" is not an e-mail address`);
  const campaign = await getCampaign(db, id);
  let recipient;
  if (opts.recipientId) {
    recipient = await getRecipient(db, opts.recipientId);
    if (!recipient) throw new InputError(`--recipient: unknown recipient "${opts.recipientId}"`);
  } else {
    recipient = (await selectAudience(db, campaign.audience))[0];
    if (!recipient) throw new InputError(`campaign ${id}: its audience is empty`);
  }
  const versions = await loadTemplateVersions(cfg.paths.templates, campaign.template_id);
  const template = chooseVersion(versions, recipient);
  if (!template) throw new InputError(`template ${campaign.template_id} has no ${recipient.language} version and no fallback (recipient ${recipient.id})`);
  const merged = mergeDocument(template, recipient, mergeOptionsOf(campaign));
  const rendered = await renderDocument(merged);
  const testId = `test-${campaign.id}-${randomBytes(5).toString('hex')}`;
  const mail = testMessage(
    cfg,
    { dispatchId: testId, reference: campaign.reference, subject: merged.subject, language: template.meta.language, letterDate: campaign.letter_date, replyBy: campaign.reply_by, recipient, pdf: rendered.bytes },
    opts.to,
    testId,
  );
  const result = await mailer.send(mail);
  const at = nowIso();
  await writeTx(db, async (trx) => {
    await trx
      .insertInto('test_sends')
      .values({ id: testId, campaign_id: campaign.id, recipient_id: recipient.id, to_address: opts.to, subject: mail.subject, pdf_sha256: rendered.sha256, message_id: mail.messageId, smtp_response: result.response, actor: opts.by, sent_at: at })
      .execute();
    await appendEvent(trx, {
      type: 'campaign.test-sent',
      campaignId: campaign.id,
      actor: opts.by,
      at,
      data: { test_id: testId, recipient_id: recipient.id, to: opts.to, message_id: mail.messageId, pdf_sha256: rendered.sha256, template_sha256: template.sha256, smtp_response: result.response },
    });
  });
  return { id: testId, recipientId: recipient.id, to: opts.to, messageId: mail.messageId, subject: mail.subject, pdfSha256: rendered.sha256, response: result.response };
}
