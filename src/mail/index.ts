// The mail stage: build a message (plain data), send it through SMTP or the file outbox.
export { REFERENCE_HEADER, attachmentFileName, envelopeRecipients, toMailOptions, validateMessage } from './message.ts';
export type { OutgoingMessage, SendResult } from './message.ts';
export { composeMessage, createMailer, createOutboxMailer, createSmtpMailer, probeSmtp } from './transport.ts';
export type { Mailer } from './transport.ts';
export { classifySmtpError } from './smtp-errors.ts';
export type { SmtpErrorClass } from './smtp-errors.ts';
export { messageIdFileName, messageIdFor } from './message-id.ts';
