import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { canonicalJson, GENESIS_HASH } from '../store/events.ts';
import { writeTx } from '../store/tx.ts';

/**
 * Checkpoints of the audit chain, kept outside the store. The chain (src/store/events.ts) shows
 * any edit or deletion of a past event, but not the removal of the newest ones: what is left is a
 * whole chain. A checkpoint signs (Ed25519) the head hash and the event count at a time, and is
 * appended as one JSON line to a file; `audit verify --checkpoints` then finds a truncated or
 * rewritten tail. Each line carries its public key, so checking needs no private key.
 */

export const CHECKPOINT_KIND = 'chancery.audit.checkpoint';

/** What is signed: the canonical JSON of these fields. */
const payloadSchema = z
  .object({
    kind: z.literal(CHECKPOINT_KIND),
    v: z.literal(1),
    at: z.string().datetime(),
    /** Events in the chain; events are numbered 1, 2, 3, ... so this is also the head's id. */
    count: z.number().int().min(0),
    head: z.string().regex(/^[0-9a-f]{64}$/),
    /** The signer's public key: SPKI DER, base64. */
    key: z.string().regex(/^[A-Za-z0-9+/]+=*$/),
  })
  .strict();
export const checkpointSchema = payloadSchema.extend({ sig: z.string().regex(/^[A-Za-z0-9+/]+=*$/) }).strict();
export type Checkpoint = z.infer<typeof checkpointSchema>;

export type SigningKey = { privateKey: KeyObject; publicKey: KeyObject; keyB64: string; fingerprint: string };

/** SHA256:<base64> of the public key's SPKI DER, as printed by keygen and verify. */
export function keyFingerprint(publicKey: KeyObject): string {
  return `SHA256:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64').replace(/=+$/, '')}`;
}

/** Reads the Ed25519 private key (PEM, PKCS#8) of AUDIT_SIGNING_KEY_FILE. Never prints its content. */
export function loadSigningKey(file: string): SigningKey {
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (err) {
    throw new InputError(`AUDIT_SIGNING_KEY_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new InputError(`AUDIT_SIGNING_KEY_FILE: ${file} is not a PEM private key (make one with chancery audit keygen --out FILE)`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new InputError(`AUDIT_SIGNING_KEY_FILE: ${file} is an ${privateKey.asymmetricKeyType} key, not Ed25519`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyB64: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), fingerprint: keyFingerprint(publicKey) };
}

/** Writes a new Ed25519 private key (PEM PKCS#8, mode 0600; never over an existing file); returns its public key. */
export function generateSigningKey(file: string): { publicKeyPem: string; fingerprint: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  try {
    fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InputError(`--out: ${file} exists; a key is never overwritten`);
    throw err;
  }
  return { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), fingerprint: keyFingerprint(publicKey) };
}

/**
 * Signs the chain's head as it stands and appends the checkpoint to `file` (created if need be,
 * flushed to disk before returning). The head is read in a write transaction, so after any
 * transaction still appending (the one that completed a campaign, for the worker's checkpoint).
 */
export async function takeCheckpoint(db: Db, key: SigningKey, file: string): Promise<Checkpoint> {
  const head = await writeTx(db, (trx) => trx.selectFrom('events').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst());
  const payload: z.infer<typeof payloadSchema> = { kind: CHECKPOINT_KIND, v: 1, at: new Date().toISOString(), count: head?.id ?? 0, head: head?.hash ?? GENESIS_HASH, key: key.keyB64 };
  const checkpoint: Checkpoint = { ...payload, sig: sign(null, Buffer.from(canonicalJson(payload)), key.privateKey).toString('base64') };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  // One write of one line in append mode: lines from several processes never interleave.
  const fd = fs.openSync(file, 'a', 0o644);
  try {
    fs.writeSync(fd, `${canonicalJson(checkpoint)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return checkpoint;
}

/** Checks a checkpoint's signature against the public key it carries (and that the key is `expected`, if given). */
export function checkSignature(cp: Checkpoint, expected?: KeyObject): { ok: true; fingerprint: string } | { ok: false; reason: string } {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(cp.key, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, reason: 'its key is not a public key' };
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') return { ok: false, reason: 'its key is not an Ed25519 key' };
  const fingerprint = keyFingerprint(publicKey);
  if (expected && fingerprint !== keyFingerprint(expected)) return { ok: false, reason: `signed by ${fingerprint}, not by the key given (${keyFingerprint(expected)})` };
  const { sig, ...payload } = cp;
  let good = false;
  try {
    good = verify(null, Buffer.from(canonicalJson(payload)), publicKey, Buffer.from(sig, 'base64'));
  } catch {
    good = false;
  }
  return good ? { ok: true, fingerprint } : { ok: false, reason: 'the signature does not match (the line was altered)' };
}
