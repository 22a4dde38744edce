import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { copyStore } from '../../src/store/copy.ts';
import { openDb, type Db } from '../../src/store/db.ts';
import { startPostgres, type TestPostgres } from './postgres.ts';

/**
 * The store engine the tests of this run use: vitest.config.ts runs the store, dispatch,
 * deadlines, audit and web tests once per engine (projects sqlite and postgres, the latter with
 * CHANCERY_TEST_ENGINE=postgres). On PostgreSQL each test file has a private cluster, started on
 * first use and stopped after the file (test/helpers/postgres-setup.ts); every store is a fresh
 * database of it.
 */
export type TestEngine = 'sqlite' | 'postgres';
export const TEST_ENGINE: TestEngine = process.env.CHANCERY_TEST_ENGINE === 'postgres' ? 'postgres' : 'sqlite';

let cluster: Promise<TestPostgres> | undefined;

/** This file's private PostgreSQL cluster (started on first call). */
export function filePostgres(): Promise<TestPostgres> {
  cluster ??= startPostgres();
  return cluster;
}

/** Stops this file's cluster if one was started. */
export async function stopFilePostgres(): Promise<void> {
  const c = cluster;
  cluster = undefined;
  if (c) await (await c).stop();
}

/** A new, empty store for this run's engine: a SQLite file in `dir`, or a fresh PostgreSQL database. */
export async function freshStore(dir: string, name = 'chancery.db'): Promise<string> {
  if (TEST_ENGINE === 'sqlite') return path.join(dir, name);
  return (await filePostgres()).createDatabase();
}

/**
 * The environment that points Chancery at a new empty store of this run's engine: nothing on
 * SQLite (the file under CHANCERY_HOME), DATABASE_URL of a fresh database on PostgreSQL.
 */
export async function freshStoreEnv(): Promise<Record<string, string>> {
  if (TEST_ENGINE === 'sqlite') return {};
  return { DATABASE_URL: await (await filePostgres()).createDatabase() };
}

/**
 * A copy of `db` in a new store of this run's engine (store copy's own code: every row, every
 * id), to tamper with. Returns its location and the environment that points Chancery at it.
 */
export async function copyOfStore(db: Db, dir: string): Promise<{ location: string; db: Db; env: Record<string, string> }> {
  fs.mkdirSync(dir, { recursive: true });
  const location = await freshStore(dir);
  const copy = await openDb(location);
  await copyStore(db, copy, 'test copy');
  return { location, db: copy, env: TEST_ENGINE === 'postgres' ? { DATABASE_URL: location } : {} };
}

/** Runs one raw statement with `?` placeholders on either engine (tampering as someone with database access would). */
export async function rawSql(db: Db, text: string, ...params: unknown[]): Promise<void> {
  const parts = text.split('?');
  await sql(Object.assign([...parts], { raw: parts }) as unknown as TemplateStringsArray, ...params).execute(db);
}
