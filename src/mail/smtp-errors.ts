import { InputError } from '../errors.ts';

/**
 * What a failed send means for the dispatch:
 * - transient: try again later (4xx replies, connection refused/closed/reset, timeouts, DNS hiccups);
 *   BullMQ retries with backoff up to SEND_ATTEMPTS.
 * - permanent: the server refused this message for good (5xx); keep `response` in the record.
 * - config: the relay refuses us (authentication, TLS, unknown host): every message would fail the
 *   same way, so the campaign pauses and says why.
 */
export type SmtpErrorClass = { kind: 'transient' | 'permanent' | 'config'; code?: number; response?: string };

// Node/OpenSSL codes of a TLS handshake or certificate problem.
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_OSSL_|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME_INVALID)/;
// nodemailer error codes that mean our configuration is wrong, not the message or the moment.
const CONFIG_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2', 'ETLS', 'EREQUIRETLS', 'ECONFIG', 'EPROXY', 'ENOTFOUND']);
// Reply codes about authentication or encryption: 530 auth required, 534/538 mechanism/encryption, 535 bad credentials, 454 TLS unavailable / temp auth failure.
const CONFIG_REPLIES = new Set([530, 534, 535, 538]);

function field(err: object, name: string): unknown {
  return (err as Record<string, unknown>)[name];
}

export function classifySmtpError(err: unknown): SmtpErrorClass {
  if (typeof err !== 'object' || err === null) return { kind: 'transient', response: String(err) };
  // The message itself was refused before any server saw it (a line break in a header, a bad
  // address): the same message would be refused again.
  if (err instanceof InputError) return { kind: 'permanent', response: err.message };
  const code = typeof field(err, 'code') === 'string' ? (field(err, 'code') as string) : undefined;
  const replyCode = typeof field(err, 'responseCode') === 'number' ? (field(err, 'responseCode') as number) : undefined;
  const message = err instanceof Error ? err.message : String(field(err, 'message') ?? '');
  const response = typeof field(err, 'response') === 'string' && field(err, 'response') ? (field(err, 'response') as string) : message;
  const cause = field(err, 'cause');
  const causeCode = cause && typeof cause === 'object' && typeof field(cause, 'code') === 'string' ? (field(cause, 'code') as string) : undefined;
  const withCode = (kind: SmtpErrorClass['kind']): SmtpErrorClass =>
    replyCode !== undefined ? { kind, code: replyCode, response } : { kind, response };

  if (code && CONFIG_CODES.has(code)) return withCode('config');
  if ((code && TLS_CODE.test(code)) || (causeCode && TLS_CODE.test(causeCode))) return withCode('config');
  // A TLS failure nodemailer reports as a connection error still names SSL/TLS in its message.
  // A host name that does not resolve at all is a wrong SMTP_URL; EAI_AGAIN (try again) stays transient.
  if (code === 'EDNS' && /ENOTFOUND/.test(message)) return withCode('config');
  if (code === 'ECONNECTION' && /\b(SSL|TLS)\b|certificate|wrong version number/i.test(message)) return withCode('config');
  if (replyCode !== undefined) {
    if (CONFIG_REPLIES.has(replyCode)) return withCode('config');
    // 503 is "bad sequence of commands": the session, not the message; a new connection may pass.
    if (replyCode >= 500 && replyCode < 600 && replyCode !== 503) return withCode('permanent');
    return withCode('transient');
  }
  // No reply code: a message nodemailer could not even build, or one with no recipient, never passes.
  if (code === 'EMESSAGE' || code === 'EENVELOPE' || code === 'EMAXRECIPIENTS' || code === 'EFILEACCESS' || code === 'EURLACCESS') {
    return withCode('permanent');
  }
  // ECONNECTION, ETIMEDOUT, ESOCKET, EDNS (EAI_AGAIN), ECONNREFUSED, ECONNRESET, EPIPE, EPROTOCOL,
  // EMAXLIMIT and anything unknown: try again; the attempts limit ends it.
  return withCode('transient');
}
