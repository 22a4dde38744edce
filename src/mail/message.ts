import { createHash } from 'node:crypto';
import type { SendMailOptions } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import { InputError } from '../errors.ts';

/** Header carrying the campaign reference ("CU 2009/92 (A)") on every message Chancery sends. */
export const REFERENCE_HEADER = 'X-Chancery-Reference';

/**
 * One e-mail, as plain data: what the send step hands to a Mailer.
 * - from/replyTo/to/cc: RFC 5322 addresses, "Name <a@b>" or "a@b"; `to` must not be empty.
 * - messageId: `<...@domain>`, see messageIdFor(); the same on every (re)try of a dispatch.
 * - headers: extra headers (names other than the standard ones this type already sets).
 * - reference (optional): written as the X-Chancery-Reference header.
 * - date (optional): the Date header; unset, the time of composition. With a date, the composed
 *   message is byte-for-byte the same every time (MIME boundaries derive from the Message-ID).
 */
export type OutgoingMessage = {
  from: string;
  replyTo?: string;
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  attachments: { filename: string; content: Buffer; contentType: string }[];
  messageId: string;
  headers: Record<string, string>;
  reference?: string;
  date?: Date;
};

/** What a transport reports once the server (or the outbox) took the message. */
export type SendResult = { messageId: string; response: string; accepted: string[]; rejected: string[] };

// Headers this module writes itself; a caller setting them through `headers` would be ambiguous.
const RESERVED = new Set([
  'from', 'to', 'cc', 'bcc', 'reply-to', 'subject', 'message-id', 'date', 'mime-version',
  'content-type', 'content-transfer-encoding', 'sender', 'return-path', REFERENCE_HEADER.toLowerCase(),
]);

const HEADER_NAME = /^[!-9;-~]+$/; // printable US-ASCII except ':' (RFC 5322 field-name)
const MESSAGE_ID = /^<[^<>\s@]+@[^<>\s@]+>$/;

function where(m: Pick<OutgoingMessage, 'messageId'>): string {
  return `message ${typeof m.messageId === 'string' && m.messageId ? m.messageId : '(no Message-ID)'}`;
}

/** CR or LF in a header would let a value start a header of its own (header injection). */
function noLineBreak(m: OutgoingMessage, field: string, value: string): void {
  if (/[\r\n\0]/.test(value)) throw new InputError(`${where(m)}: ${field} contains a line break, refused`);
}

function oneAddress(m: OutgoingMessage, field: string, value: string): void {
  noLineBreak(m, field, value);
  const parsed = addressparser(value);
  const first = parsed[0];
  if (parsed.length !== 1 || !first || !('address' in first) || !/^[^@\s]+@[^@\s]+$/.test(first.address ?? '')) {
    throw new InputError(`${where(m)}: ${field} '${value}' is not one e-mail address`);
  }
}

/** Refuses a message that cannot be sent as it is: one-line InputError naming the field. */
export function validateMessage(m: OutgoingMessage): void {
  if (!MESSAGE_ID.test(m.messageId)) throw new InputError(`${where(m)}: messageId '${m.messageId}' is not <local@domain>`);
  oneAddress(m, 'from', m.from);
  if (m.replyTo !== undefined) oneAddress(m, 'replyTo', m.replyTo);
  if (m.to.length === 0) throw new InputError(`${where(m)}: to has no address`);
  m.to.forEach((a, i) => oneAddress(m, `to[${i}]`, a));
  m.cc.forEach((a, i) => oneAddress(m, `cc[${i}]`, a));
  noLineBreak(m, 'subject', m.subject);
  if (m.reference !== undefined) noLineBreak(m, 'reference', m.reference);
  if (m.date !== undefined && Number.isNaN(m.date.getTime())) throw new InputError(`${where(m)}: date is not a valid date`);
  for (const [name, value] of Object.entries(m.headers)) {
    if (!HEADER_NAME.test(name)) throw new InputError(`${where(m)}: header name '${name.replace(/[\r\n]/g, ' ')}' is not valid`);
    if (RESERVED.has(name.toLowerCase())) throw new InputError(`${where(m)}: header ${name} is set from its own field, not through headers`);
    noLineBreak(m, `header ${name}`, value);
  }
  m.attachments.forEach((a, i) => {
    noLineBreak(m, `attachments[${i}].filename`, a.filename);
    noLineBreak(m, `attachments[${i}].contentType`, a.contentType);
    if (!Buffer.isBuffer(a.content)) throw new InputError(`${where(m)}: attachments[${i}].content is not a Buffer`);
  });
}

/** The bare addresses of To and Cc, the SMTP envelope's recipients. */
export function envelopeRecipients(m: Pick<OutgoingMessage, 'to' | 'cc'>): string[] {
  return [...m.to, ...m.cc].flatMap((a) => addressparser(a).flatMap((p) => ('address' in p && p.address ? [p.address] : [])));
}

/**
 * nodemailer options for a validated message. Only in-memory content: file and URL access are
 * disabled so no field can make nodemailer read a path or fetch a URL.
 */
export function toMailOptions(m: OutgoingMessage): SendMailOptions {
  validateMessage(m);
  const headers: Record<string, string> = { ...m.headers };
  if (m.reference !== undefined) headers[REFERENCE_HEADER] = m.reference;
  return {
    from: m.from,
    ...(m.replyTo !== undefined ? { replyTo: m.replyTo } : {}),
    to: m.to,
    ...(m.cc.length > 0 ? { cc: m.cc } : {}),
    subject: m.subject,
    // CRLF, the line end of the composed message (see composeMessage).
    text: m.text.replace(/\r?\n/g, '\r\n'),
    messageId: m.messageId,
    ...(m.date !== undefined ? { date: m.date } : {}),
    headers,
    attachments: m.attachments.map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
    // Same Message-ID, same boundaries: the composed bytes depend only on the message.
    baseBoundary: createHash('sha256').update(m.messageId).digest('hex').slice(0, 16),
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/**
 * A clear attachment name from a reference and a recipient id:
 * ("CU 2009/92 (A)", "FRA") -> "CU-2009-92-A_FRA.pdf"; ("…", "org:EU") -> "…_org-EU.pdf".
 */
export function attachmentFileName(reference: string, recipientId: string, ext = 'pdf'): string {
  const clean = (s: string) => s.normalize('NFKD').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `${clean(reference) || 'document'}_${clean(recipientId) || 'recipient'}.${ext}`;
}
