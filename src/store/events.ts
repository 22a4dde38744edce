import { createHash } from 'node:crypto';
import type { Trx } from './tx.ts';
import type { EventsTable } from './schema.ts';

/**
 * The append-only audit trail. Each event's hash covers the previous event's hash and the
 * canonical JSON of the event itself, so editing or deleting any past row breaks the chain.
 * appendEvent must run in the same write transaction as the state change it records.
 */

export const GENESIS_HASH = '0'.repeat(64);

export type EventInput = {
  type: string;
  campaignId?: string | null;
  dispatchId?: string | null;
  /** Who did it: a person's name for commands (--by), 'worker:<host>:<pid>' or 'system' otherwise. */
  actor: string;
  data?: Record<string, unknown>;
  /** Defaults to now (UTC). */
  at?: string;
};

/** JSON with object keys sorted at every level and no whitespace: one text per value. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value as Record<string, unknown>).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** The part of an event row the hash covers: everything except the hashes themselves. */
export type HashedEvent = Pick<EventsTable, 'id' | 'at' | 'type' | 'campaign_id' | 'dispatch_id' | 'actor'> & { data: unknown };

/** hash = sha256(prev_hash + canonical JSON of {id, at, type, campaign_id, dispatch_id, actor, data}). */
export function eventHash(prevHash: string, event: HashedEvent): string {
  const body = canonicalJson({
    id: event.id,
    at: event.at,
    type: event.type,
    campaign_id: event.campaign_id,
    dispatch_id: event.dispatch_id,
    actor: event.actor,
    data: event.data,
  });
  return createHash('sha256').update(prevHash + body).digest('hex');
}

/** Appends one event at the head of the chain; returns the stored row. */
export async function appendEvent(trx: Trx, input: EventInput): Promise<EventsTable> {
  const head = await trx.selectFrom('events').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
  const data = input.data ?? {};
  const event: HashedEvent = {
    id: (head?.id ?? 0) + 1,
    at: input.at ?? new Date().toISOString(),
    type: input.type,
    campaign_id: input.campaignId ?? null,
    dispatch_id: input.dispatchId ?? null,
    actor: input.actor,
    data,
  };
  const prevHash = head?.hash ?? GENESIS_HASH;
  const row: EventsTable = { ...event, data: canonicalJson(data), prev_hash: prevHash, hash: eventHash(prevHash, event) };
  await trx.insertInto('events').values(row).execute();
  return row;
}
