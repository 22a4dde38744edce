import { sql, type Kysely } from 'kysely';
import { InputError } from '../errors.ts';
import { ROWS_PER_STATEMENT } from './batches.ts';
import { engineOf, type Db } from './db.ts';
import type { Database } from './schema.ts';
import { writeTx } from './tx.ts';

/**
 * `chancery store copy`: every row of one store into another, empty one (SQLite into PostgreSQL
 * is what it is for; it works between any two). Both are at the latest schema (openDb migrates).
 */

/** Every table, parents before children (foreign keys), with the key it is read in order of. */
export const STORE_TABLES: readonly { table: keyof Database; key: string }[] = [
  { table: 'recipients', key: 'id' },
  { table: 'campaigns', key: 'id' },
  { table: 'reference_series', key: 'series' },
  { table: 'dispatches', key: 'id' },
  { table: 'documents', key: 'dispatch_id' },
  { table: 'test_sends', key: 'id' },
  { table: 'events', key: 'id' },
  { table: 'replies', key: 'id' },
  { table: 'reply_files', key: 'id' },
  { table: 'ingested_emails', key: 'sha256' },
  { table: 'reminders', key: 'id' },
  { table: 'clock', key: 'id' },
  { table: 'users', key: 'name' },
  { table: 'sessions', key: 'id' },
  { table: 'template_sources', key: 'sha256' },
];

/** The only row a freshly migrated store holds (0002_dispatch): the CU series' last number of 2009. */
const SEEDED = { reference_series: 1 } as Partial<Record<keyof Database, number>>;

export type TableCount = { table: string; rows: number };

/** Rows per table, in STORE_TABLES order. */
export async function countRows(db: Db): Promise<TableCount[]> {
  const out: TableCount[] = [];
  for (const { table } of STORE_TABLES) {
    const r = await (db as Kysely<any>).selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    out.push({ table, rows: Number(r.n) });
  }
  return out;
}

/**
 * Copies every row of `source` into `target` in one write transaction on the target, table by
 * table, read in key order ROWS_PER_STATEMENT at a time (flat memory whatever the store's size),
 * then checks, before the commit, that every table holds as many rows on both sides and runs
 * `check` on the copy (the command verifies the audit chain there: src/audit depends on the
 * store, not the other way). A target holding anything but the migration's own row is refused,
 * and nothing is written. `where` names the target in messages (without its password).
 */
export async function copyStore(source: Db, target: Db, where: string, check?: (copied: Db) => Promise<void>): Promise<TableCount[]> {
  // One snapshot of the source (a read transaction), so writers still running cannot make the
  // tables disagree with one another or the counts with the copy.
  return source.connection().execute(async (src) => {
    await sql.raw(engineOf(src) === 'postgres' ? 'begin isolation level repeatable read read only' : 'begin').execute(src);
    try {
      return await copyFrom(src, target, where, check);
    } finally {
      await sql`rollback`.execute(src);
    }
  });
}

async function copyFrom(source: Db, target: Db, where: string, check?: (copied: Db) => Promise<void>): Promise<TableCount[]> {
  const before = await countRows(target);
  const held = before.filter((c) => c.rows > (SEEDED[c.table as keyof Database] ?? 0));
  if (held.length > 0) {
    throw new InputError(`the target store ${where} is not empty (${held.map((c) => `${c.table}: ${c.rows} rows`).join(', ')}); copy only into an empty database`);
  }
  const from = await countRows(source);
  return writeTx(target, async (trx) => {
    const t = trx as Kysely<any>;
    // The migration's own row comes again with the source's.
    await t.deleteFrom('reference_series').execute();
    for (const { table, key } of STORE_TABLES) {
      let after: unknown;
      for (;;) {
        let q = (source as Kysely<any>).selectFrom(table).selectAll().orderBy(key).limit(ROWS_PER_STATEMENT);
        // reference_series has a two-column key and a handful of rows: read whole.
        if (table === 'reference_series') q = q.orderBy('year').clearLimit();
        else if (after !== undefined) q = q.where(key, '>', after);
        const rows = await q.execute();
        if (rows.length > 0) await t.insertInto(table).values(rows).execute();
        if (rows.length < ROWS_PER_STATEMENT || table === 'reference_series') break;
        after = rows[rows.length - 1]![key];
      }
    }
    // An identity column does not see explicit ids: the next reply file must follow the last copied.
    if (engineOf(target) === 'postgres') {
      await sql`select setval(pg_get_serial_sequence('reply_files', 'id'), coalesce((select max(id) from reply_files), 0) + 1, false)`.execute(t);
    }
    // Checked before the commit: a copy that fails them leaves the target as it was.
    const to = await countRows(trx);
    const unequal = from.filter((c, i) => c.rows !== to[i]!.rows);
    if (unequal.length > 0) {
      throw new InputError(`store copy: counts differ after the copy (${unequal.map((c, i) => `${c.table}: ${c.rows} in the source, ${to[i]!.rows} copied`).join('; ')}); nothing was written`);
    }
    await check?.(trx);
    return to;
  });
}
