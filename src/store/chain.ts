import type { EventsTable } from './schema.ts';

/**
 * The audit chain as one open write transaction sees it (tx.ts opens it, events.ts appends to
 * it): the head as of the write lock, and the events appended since, written in one statement
 * just before COMMIT. Why: under the write lock every round trip to the store is time every
 * other writer waits. SQLite answers in-process, but a PostgreSQL writer that read the head and
 * inserted each event on its own held the lock across two round trips an event (and the turns
 * of its own busy event loop between them), which made the lock, not the work, the limit.
 */
export type ChainHead = Pick<EventsTable, 'id' | 'hash'>;

export type OpenChain = {
  /** The last event as of the lock, then of this transaction's appends; 'unread' until needed. */
  head: ChainHead | undefined | 'unread';
  /** Events appended in this transaction, in chain order, not yet written. */
  pending: EventsTable[];
};

/** Keyed by the transaction's connection handle (the `trx` every step of it is given). */
const open = new WeakMap<object, OpenChain>();

export function openChain(trx: object, head: OpenChain['head']): OpenChain {
  const chain: OpenChain = { head, pending: [] };
  open.set(trx, chain);
  return chain;
}

/** The chain of the write transaction `trx` belongs to; undefined outside writeTx. */
export function chainOf(trx: object): OpenChain | undefined {
  return open.get(trx);
}

export function closeChain(trx: object): void {
  open.delete(trx);
}

/** Where a savepoint was taken, so that rolling back to it forgets the appends made after it. */
export function markChain(chain: OpenChain): { head: OpenChain['head']; length: number } {
  return { head: chain.head, length: chain.pending.length };
}

export function rewindChain(chain: OpenChain, mark: { head: OpenChain['head']; length: number }): void {
  chain.head = mark.head;
  chain.pending.length = mark.length;
}
