import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/audit/verify.ts';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { loadConfig } from '../src/config.ts';
import { freePort } from '../src/queue/redis.ts';
import { ensureRegistryLoaded } from '../src/registry/index.ts';
import { countRows } from '../src/store/copy.ts';
import { CODE_SCHEMA_VERSION, openDb, openStore, type Db } from '../src/store/db.ts';
import { migrationsFor } from '../src/store/migrations.ts';
import { appendEvent } from '../src/store/events.ts';
import { writeTx } from '../src/store/tx.ts';
import { cli } from './dispatch.fixture.ts';
import { startPostgres, type TestPostgres } from './helpers/postgres.ts';

/**
 * The PostgreSQL store beside SQLite: DATABASE_URL errors as a user sees them, the schema
 * version check, `store migrate`, `store copy` from a SQLite store, and the audit chain under
 * writers in several processes at once. A private cluster (test/helpers/postgres.ts).
 */

/** The latest migration and how many there are (the status line names both). */
const LATEST = CODE_SCHEMA_VERSION;
const MIGRATIONS = Object.keys(migrationsFor('sqlite')).length;
const ROOT = path.resolve(import.meta.dirname, '..');
let pgc: TestPostgres;
let tmp: string;

/** The environment of a `chancery` subprocess on its own home, with `extra` on top. */
function envWith(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const home = fs.mkdtempSync(path.join(tmp, 'home-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CHANCERY_HOME: home,
    CHANCERY_TEMPLATES: path.join(ROOT, 'templates'),
    CHANCERY_REGISTRY: path.join(ROOT, 'seeds', 'registry.json'),
    ...extra,
  };
  delete env.CHANCERY_TEST_ENGINE;
  if (extra.DATABASE_URL === undefined) delete env.DATABASE_URL;
  return env;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-store-pg-'));
  pgc = await startPostgres();
});

afterAll(async () => {
  await pgc?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('DATABASE_URL: what a user sees when it is wrong', () => {
  it('a malformed URL: exit 2, one line naming the variable, without its value', async () => {
    for (const value of ['mysql://chancery:s3cret-one@db.example.org/chancery', 'postgres://', 'postgres://chancery:s3cret-one@/chancery']) {
      const r = await cli(envWith({ DATABASE_URL: value }), ['store', 'migrate']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('chancery: configuration: DATABASE_URL must be a postgres://user:password@host:port/database URL (unset: the SQLite file under CHANCERY_HOME)\n');
      expect(r.stdout).toBe('');
    }
  });

  it('an unreachable server: exit 3 naming host and port, never the password', async () => {
    const port = await freePort();
    const r = await cli(envWith({ DATABASE_URL: `postgres://chancery:Unreach-Secret-42@127.0.0.1:${port}/chancery` }), ['registry', 'list']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`chancery: PostgreSQL at 127.0.0.1:${port} is unreachable (ECONNREFUSED); check DATABASE_URL and that the server runs\n`);
    expect(r.stdout + r.stderr).not.toContain('Unreach-Secret-42');
  });

  it('a wrong password: exit 3 naming host and port; the password in neither output nor the server log', async () => {
    const url = await pgc.createDatabase();
    const wrong = url.replace(encodeURIComponent(pgc.password), 'Wrong-Secret-77');
    const r = await cli(envWith({ DATABASE_URL: wrong }), ['store', 'migrate']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`chancery: PostgreSQL at 127.0.0.1:${pgc.port} refused the login: password authentication failed for user "chancery"; check the user and password in DATABASE_URL\n`);
    expect(r.stdout + r.stderr).not.toContain('Wrong-Secret-77');
    expect(fs.readFileSync(path.join(pgc.dir, 'server.log'), 'utf8')).not.toContain('Wrong-Secret-77');
  });
});

describe('store migrate', () => {
  it('builds the schema on an empty database and prints its version; two processes at once on a fresh one both succeed', async () => {
    const url = await pgc.createDatabase();
    const env = envWith({ DATABASE_URL: url });
    const [a, b] = await Promise.all([cli(env, ['store', 'migrate']), cli(env, ['store', 'migrate'])]);
    const line = `PostgreSQL 127.0.0.1:${pgc.port}/${new URL(url).pathname.slice(1)}: schema ${LATEST} (${MIGRATIONS} migrations; this version's latest: ${LATEST})\n`;
    expect(a).toEqual({ code: 0, stdout: line, stderr: '' });
    expect(b).toEqual({ code: 0, stdout: line, stderr: '' });
    expect(a.stdout).not.toContain(pgc.password);
  });

  it('SQLite: the file under CHANCERY_HOME, as before', async () => {
    const env = envWith({});
    const r = await cli(env, ['store', 'migrate']);
    expect(r).toEqual({ code: 0, stdout: `SQLite ${path.join(env.CHANCERY_HOME!, 'chancery.db')}: schema ${LATEST} (${MIGRATIONS} migrations; this version's latest: ${LATEST})\n`, stderr: '' });
  });

  it('a store whose schema is newer than the code is refused on both engines, exit 3, both versions named', async () => {
    const pgEnv = envWith({ DATABASE_URL: await pgc.createDatabase() });
    const liteEnv = envWith({});
    for (const env of [pgEnv, liteEnv]) {
      const db = await openStore(loadConfig(env));
      await (db as Kysely<any>).insertInto('kysely_migration').values({ name: '0099_future', timestamp: new Date().toISOString() }).execute();
      await db.destroy();
      const r = await cli(env, ['audit', 'verify']);
      expect(r).toEqual({
        code: 3,
        stdout: '',
        stderr: `chancery: the store's schema is newer than this Chancery: it has migration 0099_future; this version knows up to ${LATEST}. Upgrade Chancery to use this store\n`,
      });
    }
  });
});

describe('store copy from SQLite into PostgreSQL', () => {
  let env: NodeJS.ProcessEnv;
  let source: Db;

  beforeAll(async () => {
    // A SQLite store with a campaign approved, events, a reply file row and a letter's PDF.
    env = envWith({});
    const cfg = loadConfig(env);
    source = await openStore(cfg);
    await ensureRegistryLoaded(source, cfg.CHANCERY_REGISTRY);
    const c = await createCampaign(source, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'FRA,DEU,AUT', replyBy: '2009-07-31', remind: '14,3', by: 'A. Drafter' });
    await approveCampaign(source, cfg, c.id, 'M. Approver');
    await writeTx(source, async (trx) => {
      await trx
        .insertInto('dispatches')
        .values({ id: `note-${c.id}-FRA`, campaign_id: c.id, recipient_id: 'FRA', kind: 'note', state: 'rendered', recipient_snapshot: null, language: 'fr', template_id: null, template_version: null, template_sha256: null, subject: 'x', pdf_sha256: null, pages: 1, pdf_path: null, message_id: null, smtp_response: null, claim_job: null, attempts: 0, possible_duplicate: 0, error: null, created_at: 'now', updated_at: 'now', rendered_at: null, sent_at: null, original_dispatch_id: null, letter_date: null })
        .execute();
      await trx.insertInto('documents').values({ dispatch_id: `note-${c.id}-FRA`, bytes: Buffer.from('%PDF-1.7\n\u0000\u00ff binary') }).execute();
      await trx.insertInto('replies').values({ id: 'r1', dispatch_id: `note-${c.id}-FRA`, campaign_id: c.id, recipient_id: 'FRA', received_on: '2009-07-10', channel: 'fax', their_reference: null, note: null, file_path: null, file_sha256: null, logged_by: 'carol', logged_at: 'now', source: 'manual', match_method: null, source_sha256: null, replaced_by: null }).execute();
      await trx.insertInto('reply_files').values({ reply_id: 'r1', role: 'file', filename: 'a.pdf', path: 'replies/a.pdf', sha256: 'a'.repeat(64), bytes: 12 }).execute();
      for (let i = 0; i < 1_200; i++) await appendEvent(trx, { type: 'test.event', campaignId: c.id, actor: 'test', data: { i } });
    });
  });

  afterAll(async () => {
    await source?.destroy();
  });

  it('copies every row: counts equal per table, PDFs byte for byte, audit verify passes on the target; a non-empty target is refused', async () => {
    const url = await pgc.createDatabase();
    const r = await cli(env, ['store', 'copy', '--to', url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const counts = await countRows(source);
    for (const c of counts) expect(r.stdout).toContain(`${c.table.padEnd(16)} ${c.rows}\n`);
    expect(r.stdout).toMatch(/counts equal in every table; audit chain whole \(\d+ events\)\n$/);
    expect(r.stdout).not.toContain(pgc.password);

    const target = await openDb(url);
    try {
      expect(await countRows(target)).toEqual(counts);
      expect(await target.selectFrom('documents').selectAll().execute()).toEqual(await source.selectFrom('documents').selectAll().execute());
      // The approved template texts, which the workers render from: the note's and its reminder's, each language.
      const sources = await source.selectFrom('template_sources').selectAll().orderBy('sha256').execute();
      expect(sources.map((t) => `${t.template_id}.${t.language}`).sort()).toEqual(['cu-2009-92-reminder.en', 'cu-2009-92-reminder.fr', 'cu-2009-92.en', 'cu-2009-92.fr']);
      expect(await target.selectFrom('template_sources').selectAll().orderBy('sha256').execute()).toEqual(sources);
      expect(await target.selectFrom('events').selectAll().orderBy('id').execute()).toEqual(await source.selectFrom('events').selectAll().orderBy('id').execute());
      // The identity of reply_files goes on after the copied ids.
      const added = await target.insertInto('reply_files').values({ reply_id: 'r1', role: 'file', filename: 'b.pdf', path: 'replies/b.pdf', sha256: 'b'.repeat(64), bytes: 1 }).returning('id').executeTakeFirstOrThrow();
      expect(added.id).toBe(2);
      await target.deleteFrom('reply_files').where('id', '=', 2).execute();
    } finally {
      await target.destroy();
    }
    const verify = await cli(envWith({ DATABASE_URL: url }), ['audit', 'verify']);
    expect(verify).toMatchObject({ code: 0, stdout: `chain whole: ${counts.find((c) => c.table === 'events')!.rows} events\n` });

    const again = await cli(env, ['store', 'copy', '--to', url]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(new RegExp(`^chancery: the target store PostgreSQL 127\\.0\\.0\\.1:${pgc.port}/\\w+ is not empty \\(recipients: 193 rows, .*\\); copy only into an empty database\\n$`));
    expect(again.stderr).not.toContain(pgc.password);
  });

  it('refuses a --to that is not a PostgreSQL URL (exit 2) and writes nothing', async () => {
    const r = await cli(env, ['store', 'copy', '--to', 'sqlite:///tmp/x.db']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'chancery: store copy: --to must be a postgres://user:password@host:port/database URL\n' });
  });
});

describe('the audit chain under concurrent writers on PostgreSQL', () => {
  it('four processes and this one append at once: one line, every event there, audit verify passes', async () => {
    const url = await pgc.createDatabase();
    const db = await openDb(url);
    try {
      const perProcess = 150;
      const writers = ['a', 'b', 'c', 'd'].map(
        (tag) =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'append-events.ts'), url, String(perProcess), tag], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.stderr.on('data', (d: Buffer) => (out += d.toString()));
            child.on('error', reject);
            child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`writer ${tag} exited ${code}: ${out}`))));
          }),
      );
      // This process writes too, on several pooled connections at once.
      const here = Promise.all(Array.from({ length: 4 }, (_, j) => (async () => {
        for (let i = 0; i < 25; i++) await writeTx(db, (trx) => appendEvent(trx, { type: 'test.appended', actor: 'writer:here', data: { j, i } }));
      })()));
      expect(await Promise.all(writers)).toEqual(['done\n', 'done\n', 'done\n', 'done\n']);
      await here;
      const total = 4 * perProcess + 100;
      expect(await verifyChain(db)).toEqual({ ok: true, count: total });
      const perWriter = await db.selectFrom('events').select('actor').select((eb) => eb.fn.countAll<number>().as('n')).groupBy('actor').orderBy('actor').execute();
      expect(perWriter).toEqual([
        { actor: 'writer:a', n: perProcess },
        { actor: 'writer:b', n: perProcess },
        { actor: 'writer:c', n: perProcess },
        { actor: 'writer:d', n: perProcess },
        { actor: 'writer:here', n: 100 },
      ]);
      const ids = (await db.selectFrom('events').select('id').orderBy('id').execute()).map((e) => e.id);
      expect(ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const locks = await sql<{ n: number }>`select count(*) as n from pg_locks where locktype = 'advisory'`.execute(db);
      expect(locks.rows[0]!.n).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});
