import type { Config } from '../config.ts';
import { attachmentFileName, messageIdFor, type OutgoingMessage } from '../mail/index.ts';
import { formatDate } from '../merge/index.ts';
import type { Recipient } from '../registry/index.ts';

/**
 * The e-mail carrying one note: To/Cc from the recipient as merged, From/Reply-To from the
 * configuration, subject "CU 2009/92 (A) — <subject>", a short covering text in the note's
 * language (French or English; other languages get the English text), the PDF attached.
 */
export type NoteMail = {
  dispatchId: string;
  reference: string;
  /** Subject of the note in its language (from the merged document). */
  subject: string;
  language: string;
  letterDate: string;
  replyBy: string;
  recipient: Recipient;
  pdf: Buffer;
};

export function emailSubject(reference: string, subject: string): string {
  return `${reference} — ${subject}`;
}

export function coveringText(cfg: Config, m: Pick<NoteMail, 'reference' | 'language' | 'letterDate' | 'replyBy' | 'recipient'>): string {
  const fr = m.language === 'fr';
  const lang = fr ? 'fr' : 'en';
  const dative = m.recipient.titles[lang]?.dative;
  const date = formatDate(m.letterDate, lang);
  const replyBy = formatDate(m.replyBy, lang);
  const lines = fr
    ? [
        `Veuillez trouver ci-joint la note verbale ${m.reference} du ${date}${dative ? `, adressée ${dative}` : ''}.`,
        '',
        `Les réponses sont attendues d'ici au ${replyBy}, à l'adresse ${cfg.MAIL_REPLY_TO}.`,
        '',
        `Référence: ${m.reference}`,
      ]
    : [
        `Please find attached note verbale ${m.reference} of ${date}${dative ? `, addressed ${dative}` : ''}.`,
        '',
        `Replies are requested by ${replyBy}, to ${cfg.MAIL_REPLY_TO}.`,
        '',
        `Reference: ${m.reference}`,
      ];
  return `${lines.join('\n')}\n`;
}

export function noteMessage(cfg: Config, m: NoteMail): OutgoingMessage {
  return {
    from: cfg.MAIL_FROM,
    replyTo: cfg.MAIL_REPLY_TO,
    to: [...m.recipient.email.to],
    cc: [...m.recipient.email.cc],
    subject: emailSubject(m.reference, m.subject),
    text: coveringText(cfg, m),
    attachments: [{ filename: attachmentFileName(m.reference, m.recipient.id), content: m.pdf, contentType: 'application/pdf' }],
    messageId: messageIdFor(m.dispatchId, cfg.MESSAGE_ID_DOMAIN),
    reference: m.reference,
    headers: { 'X-Chancery-Dispatch': m.dispatchId },
  };
}

/** A staff test: the same letter and text, to one staff address, TEST in the subject. */
export function testMessage(cfg: Config, m: NoteMail, to: string, testId: string): OutgoingMessage {
  const base = noteMessage(cfg, m);
  return {
    ...base,
    to: [to],
    cc: [],
    subject: `[TEST] ${base.subject}`,
    text: `TEST — not sent to ${m.recipient.id}; the real message would go to ${m.recipient.email.to.join(', ')}.\n\n${base.text}`,
    messageId: messageIdFor(testId, cfg.MESSAGE_ID_DOMAIN),
    headers: { 'X-Chancery-Test': 'yes' },
  };
}
