import { createHash } from 'node:crypto';
import type { CompiledQuery } from 'kysely';
import { batches } from './batches.ts';
import { chainOf, type ChainHead, type OpenChain } from './chain.ts';
import { engineOf, type Db as Trx, type Engine } from './db.ts';
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
  return hashWithData(prevHash, event, canonicalJson(event.data));
}

/**
 * eventHash with the event's data already in canonical JSON. The body is that same canonical
 * JSON, written out key by key in sorted order (actor, at, campaign_id, data, dispatch_id, id,
 * type): the data is put in canonical form once, for the hash and for the row alike.
 */
function hashWithData(prevHash: string, event: HashedEvent, dataJson: string): string {
  const j = JSON.stringify;
  const body = `{"actor":${j(event.actor)},"at":${j(event.at)},"campaign_id":${j(event.campaign_id)},"data":${dataJson},"dispatch_id":${j(event.dispatch_id)},"id":${j(event.id)},"type":${j(event.type)}}`;
  return createHash('sha256').update(prevHash + body).digest('hex');
}

/**
 * The two statements of every append, built and compiled by Kysely once rather than per event
 * (three to four events a letter; building them was most of an append's CPU), then run with
 * each event's values. The insert's parameters follow EVENT_COLUMNS.
 */
const EVENT_COLUMNS = ['id', 'at', 'type', 'campaign_id', 'dispatch_id', 'actor', 'data', 'prev_hash', 'hash'] as const;
type Statements = { head: CompiledQuery<Pick<EventsTable, 'id' | 'hash'>>; insert: CompiledQuery };
/** Per engine: each compiles to its own SQL (placeholders ? against $1). */
const compiled = new Map<Engine, Statements>();

function statements(trx: Trx): Statements {
  const engine = engineOf(trx);
  let s = compiled.get(engine);
  if (!s) {
    const sample = Object.fromEntries(EVENT_COLUMNS.map((c) => [c, null])) as unknown as EventsTable;
    const insert = trx.insertInto('events').values(sample).compile();
    if (insert.parameters.length !== EVENT_COLUMNS.length) throw new Error('events insert: unexpected parameters');
    s = { head: trx.selectFrom('events').select(['id', 'hash']).orderBy('id', 'desc').limit(1).compile(), insert };
    compiled.set(engine, s);
  }
  return s;
}

/**
 * Appends one event at the head of the chain; returns its row. Inside writeTx the row is written
 * with the transaction's other events just before COMMIT (chain.ts); elsewhere at once.
 */
export async function appendEvent(trx: Trx, input: EventInput): Promise<EventsTable> {
  const chain = chainOf(trx);
  if (chain) {
    const row = chainRow(await headOf(trx, chain), input);
    chain.head = row;
    chain.pending.push(row);
    return row;
  }
  const { head: headQuery, insert } = statements(trx);
  const head = (await trx.executeQuery(headQuery)).rows[0];
  const row = chainRow(head, input);
  await trx.executeQuery({ ...insert, parameters: EVENT_COLUMNS.map((c) => row[c]) });
  return row;
}

/**
 * Appends events in the order given, as appendEvent one after the other would (same rows, same
 * chain), with one read of the head and one INSERT per batch of rows (batches.ts): for a
 * campaign's start, where every dispatch gets its event in one transaction.
 */
export async function appendEvents(trx: Trx, inputs: readonly EventInput[]): Promise<void> {
  if (inputs.length === 0) return;
  const chain = chainOf(trx);
  let head = chain ? await headOf(trx, chain) : (await trx.executeQuery(statements(trx).head)).rows[0];
  const rows: EventsTable[] = [];
  for (const input of inputs) {
    const row = chainRow(head, input);
    rows.push(row);
    head = row;
  }
  if (chain) {
    chain.head = head;
    chain.pending.push(...rows);
    return;
  }
  await writeEvents(trx, rows);
}

/** The head of an open chain, read from the store the first time it is needed. */
async function headOf(trx: Trx, chain: OpenChain): Promise<ChainHead | undefined> {
  if (chain.head === 'unread') chain.head = (await trx.executeQuery(statements(trx).head)).rows[0];
  return chain.head;
}

/** Writes event rows already chained (an open chain's pending events), a batch of rows per INSERT. */
export async function writeEvents(trx: Trx, rows: readonly EventsTable[]): Promise<void> {
  for (const batch of batches(rows)) await trx.insertInto('events').values(batch).execute();
}

/**
 * The INSERT of `rows` as one SQL text with the values written in as literals, for PostgreSQL's
 * simple query protocol, where it can travel with the COMMIT in one round trip (tx.ts). Strings
 * are E'...' literals with backslashes and quotes doubled: correct whatever
 * standard_conforming_strings says. Event ids are safe integers.
 */
export function eventsInsertSql(rows: readonly EventsTable[]): string {
  const literal = (v: unknown): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new Error(`events insert: ${v} is not an integer`);
      return String(v);
    }
    return `E'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  };
  const values = rows.map((row) => `(${EVENT_COLUMNS.map((c) => literal(row[c])).join(', ')})`);
  return `insert into events (${EVENT_COLUMNS.join(', ')}) values ${values.join(', ')}`;
}

/** The row that follows `head` in the chain for `input`. */
function chainRow(head: Pick<EventsTable, 'id' | 'hash'> | undefined, input: EventInput): EventsTable {
  const event: HashedEvent = {
    id: (head?.id ?? 0) + 1,
    at: input.at ?? new Date().toISOString(),
    type: input.type,
    campaign_id: input.campaignId ?? null,
    dispatch_id: input.dispatchId ?? null,
    actor: input.actor,
    data: input.data ?? {},
  };
  const prevHash = head?.hash ?? GENESIS_HASH;
  const dataJson = canonicalJson(event.data);
  return { ...event, data: dataJson, prev_hash: prevHash, hash: hashWithData(prevHash, event, dataJson) };
}
