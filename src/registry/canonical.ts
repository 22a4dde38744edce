import { createHash } from 'node:crypto';
import type { Recipient } from './schema.ts';

/**
 * One stored form per recipient, so the same data always has the same fingerprint:
 * address lines padded to three (AddressLine1..3; empty ones are suppressed in the letter).
 */
export function normalizeRecipient(r: Recipient): Recipient {
  const lines = [...r.address.lines];
  while (lines.length < 3) lines.push('');
  return { ...r, address: { ...r.address, lines } };
}

/** JSON with object keys sorted at every level: independent of the order fields were written in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v as Record<string, unknown>)
        .sort()
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The text stored in recipients.data: canonical JSON of the normalized record. */
export function recipientData(r: Recipient): string {
  return canonicalJson(normalizeRecipient(r));
}

/**
 * SHA-256 hex of the canonical JSON of the (normalized) record, equal to recipients.data_sha256:
 * a campaign compares it to spot a recipient edited after approval.
 */
export function recipientFingerprint(r: Recipient): string {
  return sha256Hex(recipientData(r));
}
