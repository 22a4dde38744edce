import type { Db } from '../store/db.ts';
import { canonicalJson, eventHash, GENESIS_HASH } from '../store/events.ts';

/**
 * Verifies the hash chain of the audit trail (src/store/events.ts), oldest event first.
 * appendEvent numbers events 1, 2, 3, ... and each hash covers the previous hash, so:
 * - an edited row no longer matches its own hash;
 * - a deleted row leaves a gap in the ids (and the next row links to a hash that is gone);
 * - reordered rows link to the wrong predecessor.
 * The first bad event is named: everything from it on can no longer be trusted.
 * Not detectable from the store alone: removing the newest events, or rewriting the whole chain
 * from some point with fresh hashes; signed checkpoints kept elsewhere (./checkpoint.ts) find those.
 */

/** count: events checked and found good (on failure, those before the first bad one). */
export type VerifyResult =
  | { ok: true; count: number }
  | { ok: false; count: number; firstBad: { id: number; reason: string; type?: string; at?: string } };

/** Rows read per query: keyset pagination on id keeps memory flat however long the chain. */
export const VERIFY_BATCH = 5000;

export async function verifyChain(db: Db): Promise<VerifyResult> {
  let prevHash = GENESIS_HASH;
  let prevId = 0;
  let count = 0;
  for (;;) {
    const rows = await db.selectFrom('events').selectAll().where('id', '>', prevId).orderBy('id').limit(VERIFY_BATCH).execute();
    if (rows.length === 0) return { ok: true, count };
    for (const row of rows) {
      const bad = (reason: string): VerifyResult => ({ ok: false, count, firstBad: { id: row.id, reason, type: row.type, at: row.at } });
      if (row.id !== prevId + 1) {
        // The missing id is the first bad event; there is no row left to describe it.
        const missing = prevId + 1;
        const reason = prevId === 0 ? `is missing (deleted): the first event is ${row.id}` : `is missing (deleted): event ${row.id} follows event ${prevId}`;
        return { ok: false, count, firstBad: { id: missing, reason } };
      }
      if (row.prev_hash !== prevHash) {
        return bad(prevId === 0 ? 'prev_hash is not the genesis hash' : `prev_hash does not match the hash of event ${prevId} (reordered, or an event before it was replaced)`);
      }
      let data: unknown;
      try {
        data = JSON.parse(row.data);
      } catch {
        return bad('data is not valid JSON');
      }
      if (eventHash(prevHash, { id: row.id, at: row.at, type: row.type, campaign_id: row.campaign_id, dispatch_id: row.dispatch_id, actor: row.actor, data }) !== row.hash) {
        return bad('hash does not match');
      }
      // Same content, different bytes (e.g. reformatted JSON) is still an edit of the stored row.
      if (canonicalJson(data) !== row.data) return bad('data is not the canonical JSON that was hashed');
      prevHash = row.hash;
      prevId = row.id;
      count++;
    }
  }
}

/** The one-line description of a broken chain, as `chancery audit verify` prints it. */
export function describeBreak(firstBad: { id: number; reason: string; type?: string; at?: string }): string {
  const what = firstBad.type !== undefined ? ` (${firstBad.type} at ${firstBad.at})` : '';
  return `event ${firstBad.id}${what}: ${firstBad.reason} — the chain is broken from here`;
}
