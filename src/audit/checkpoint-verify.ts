import { createPublicKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { InputError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { GENESIS_HASH } from '../store/events.ts';
import { checkpointSchema, checkSignature, type Checkpoint } from './checkpoint.ts';

/**
 * `audit verify --checkpoints FILE`: every checkpoint line must be signed, and the chain in the
 * store must still hold the checkpointed head at that count. Run after verifyChain (./verify.ts)
 * has found the chain whole: then a checkpoint that does not match means the tail was cut off
 * (fewer events, or the head is gone) or rewritten (another hash at that position).
 */

export type CheckpointFinding = { line: number; at?: string; count?: number; reason: string };
export type CheckpointReport = {
  checked: number;
  /** The good checkpoint with the highest count: the chain is vouched for up to there. */
  lastGood?: { line: number; at: string; count: number };
  /** The first line, in file order, that failed. */
  firstBad?: CheckpointFinding;
  fingerprints: string[];
};

/** A public key given to `--public-key` (PEM; a private key's public half also serves). */
export function readPublicKey(file: string): KeyObject {
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (err) {
    throw new InputError(`--public-key: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return key;
  } catch {
    throw new InputError(`--public-key: ${file} is not an Ed25519 public key in PEM`);
  }
}

export async function verifyCheckpoints(db: Db, file: string, opts: { publicKey?: KeyObject } = {}): Promise<CheckpointReport> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`--checkpoints: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const top = await db.selectFrom('events').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
  const stored = top?.id ?? 0;
  const report: CheckpointReport = { checked: 0, fingerprints: [] };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    const line = i + 1;
    report.checked++;
    const bad = (reason: string, cp?: Checkpoint) => {
      report.firstBad ??= { line, at: cp?.at, count: cp?.count, reason };
    };
    let cp: Checkpoint;
    try {
      cp = checkpointSchema.parse(JSON.parse(lines[i]!));
    } catch {
      bad('not a checkpoint line');
      continue;
    }
    const signed = checkSignature(cp, opts.publicKey);
    if (!signed.ok) {
      bad(signed.reason, cp);
      continue;
    }
    const problem = await chainProblem(db, cp, stored);
    if (problem) {
      bad(problem, cp);
      continue;
    }
    if (!report.fingerprints.includes(signed.fingerprint)) report.fingerprints.push(signed.fingerprint);
    if (!report.lastGood || cp.count >= report.lastGood.count) report.lastGood = { line, at: cp.at, count: cp.count };
  }
  return report;
}

/** Why the store's chain does not hold this checkpoint's head at its count, if it does not. */
async function chainProblem(db: Db, cp: Checkpoint, stored: number): Promise<string | undefined> {
  if (cp.count === 0) return cp.head === GENESIS_HASH ? undefined : 'an empty chain with a head other than the genesis hash';
  const row = await db.selectFrom('events').select('hash').where('id', '=', cp.count).executeTakeFirst();
  if (!row || stored < cp.count) return `truncated: the store holds ${stored} events, the checkpoint ${cp.count} (the newest events were deleted)`;
  if (row.hash !== cp.head) return `rewritten: event ${cp.count} has another hash than the one checkpointed`;
  return undefined;
}

/** The one-line failure `audit verify --checkpoints` prints. */
export function describeCheckpointFailure(file: string, r: CheckpointReport): string {
  const b = r.firstBad!;
  const what = b.at !== undefined ? ` (${b.at}, ${b.count} events)` : '';
  const good = r.lastGood ? `last good checkpoint: line ${r.lastGood.line} (${r.lastGood.at}, ${r.lastGood.count} events)` : 'no good checkpoint';
  return `${file} line ${b.line}${what}: ${b.reason} — ${good}`;
}
