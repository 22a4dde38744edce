import { createHash } from 'node:crypto';
import { InputError } from '../errors.ts';

// A domain as it may appear right of the '@' of a Message-ID: labels of letters, digits, hyphens.
const DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * The Message-ID of one dispatch: `<chancery.ID@domain>`, the same every time it is asked for,
 * so a message resent after a crash carries the Message-ID of the first try.
 * Characters of the dispatch id outside [A-Za-z0-9_-] (':' of 'org:NAME', '.', '/', space…)
 * are written =HH (hex of their UTF-8 bytes), '=' included, so two ids never share a Message-ID
 * and the result is a valid RFC 5322 dot-atom.
 */
export function messageIdFor(dispatchId: string, domain: string): string {
  if (dispatchId === '') throw new InputError('message id: the dispatch id is empty');
  if (!DOMAIN.test(domain)) throw new InputError(`MESSAGE_ID_DOMAIN: '${domain}' is not a domain name`);
  const local = Array.from(Buffer.from(dispatchId, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
  return `<chancery.${local}@${domain.toLowerCase()}>`;
}

/**
 * A file name (no extension) for a Message-ID: the part between the angle brackets with anything
 * other than [A-Za-z0-9._@=-] replaced by '_'; names longer than 150 characters are cut and end in
 * a hash, so the name stays unique and within file-system limits.
 */
export function messageIdFileName(messageId: string): string {
  const bare = messageId.trim().replace(/^<|>$/g, '');
  if (bare === '') throw new InputError('message id: empty Message-ID');
  let name = bare.replace(/[^A-Za-z0-9._@=-]/g, '_').replace(/^\.+/, '_');
  if (name.length > 150) name = `${name.slice(0, 120)}-${createHash('sha256').update(bare).digest('hex').slice(0, 16)}`;
  return name;
}
