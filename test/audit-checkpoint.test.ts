import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_JOB, CHECKPOINT_SCHEDULER_ID } from '../src/audit/checkpoint-jobs.ts';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { loadConfig } from '../src/config.ts';
import { REMIND_QUEUE } from '../src/deadlines/jobs.ts';
import { ensureRegistryLoaded } from '../src/registry/index.ts';
import { openDb, type Db } from '../src/store/db.ts';
import { appendEvent } from '../src/store/events.ts';
import type { EventsTable } from '../src/store/schema.ts';
import { writeTx } from '../src/store/tx.ts';
import { cli, dispatchEnv, lastLine, startWorkerProcess, until, type DispatchEnv } from './dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

/**
 * Audit checkpoints: a real SQLite store whose chain is written by the campaign code and
 * appendEvent; keys made and checkpoints taken by the CLI as a user runs it; the newest events
 * then deleted or rewritten through the store, as someone with the database could. The worker's
 * checkpoint at a campaign's end comes from a real `chancery worker` with Redis and SMTP on loopback.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
let tmp: string;
let keyFile: string;
let publicKeyFile: string;

type Cp = { at: string; count: number; head: string; key: string; kind: string; sig: string; v: number };
const readCheckpoints = (file: string): Cp[] =>
  fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Cp) : [];

/** A working folder of its own: store with a real campaign's events, env for the CLI with the signing key. */
async function freshHome(name: string): Promise<{ env: NodeJS.ProcessEnv; db: Db; file: string }> {
  const home = path.join(tmp, name);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CHANCERY_HOME: home,
    CHANCERY_TEMPLATES: path.join(ROOT, 'templates'),
    CHANCERY_REGISTRY: path.join(ROOT, 'seeds', 'registry.json'),
    AUDIT_SIGNING_KEY_FILE: keyFile,
  };
  const cfg = loadConfig(env);
  const db = await openDb(cfg.paths.db);
  await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);
  const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: `CU 2009/92 (${name})`, audience: 'FRA,DEU', replyBy: '2009-07-31', by: 'A. Drafter' });
  await approveCampaign(db, cfg, c.id, 'M. Approver');
  await appendSome(db, 3, 'before');
  return { env, db, file: cfg.paths.checkpoints };
}

/** n events appended as the workers append them, one write transaction each. */
async function appendSome(db: Db, n: number, note: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await writeTx(db, (trx) => appendEvent(trx, { type: 'dispatch.deferred', actor: 'worker:host:1', data: { note, i, error: '421 try later' } }));
  }
}

async function events(db: Db): Promise<EventsTable[]> {
  return db.selectFrom('events').selectAll().orderBy('id').execute();
}

/** The attacker: removes the newest events through the store (no gap left in the ids). */
async function deleteNewest(db: Db, keep: number): Promise<void> {
  await db.deleteFrom('events').where('id', '>', keep).execute();
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-checkpoint-'));
  keyFile = path.join(tmp, 'keys', 'audit-signing.pem');
  const made = await cli({ ...process.env, CHANCERY_HOME: path.join(tmp, 'keyhome') }, ['audit', 'keygen', '--out', keyFile]);
  expect(made.code, made.stderr).toBe(0);
  expect(made.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\nfingerprint SHA256:[A-Za-z0-9+/]{43}; set AUDIT_SIGNING_KEY_FILE=/);
  publicKeyFile = path.join(tmp, 'audit-signing.pub.pem');
  fs.writeFileSync(publicKeyFile, made.stdout.slice(0, made.stdout.indexOf('fingerprint')));
}, 60_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('audit keygen', () => {
  it('writes an Ed25519 private key readable by its owner only, and never over an existing file', async () => {
    expect(fs.readFileSync(keyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const before = fs.readFileSync(keyFile, 'utf8');
    const again = await cli({ ...process.env, CHANCERY_HOME: path.join(tmp, 'keyhome') }, ['audit', 'keygen', '--out', keyFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`chancery: --out: ${keyFile} exists; a key is never overwritten\n`);
    expect(fs.readFileSync(keyFile, 'utf8')).toBe(before);
  }, 120_000);
});

describe('audit verify --checkpoints', () => {
  it('finds the newest events deleted, which audit verify alone cannot, and names the last good checkpoint', async () => {
    const { env, db, file } = await freshHome('truncated');
    const first = await cli(env, ['audit', 'checkpoint']);
    expect(first.code, first.stderr).toBe(0);
    const n1 = (await events(db)).length;
    await appendSome(db, 4, 'after the first checkpoint');
    const second = await cli(env, ['audit', 'checkpoint']);
    expect(second.code, second.stderr).toBe(0);
    const all = await events(db);
    const cps = readCheckpoints(file);
    expect(cps.map((c) => c.count)).toEqual([n1, all.length]);
    expect(cps[1]!.head).toBe(all.at(-1)!.hash);
    expect(second.stdout).toContain(`${all.length} events, head ${all.at(-1)!.hash}`);

    const good = await cli(env, ['audit', 'verify', '--checkpoints', file, '--public-key', publicKeyFile]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain(`checkpoints good: 2; the latest ${cps[1]!.at} at ${all.length} events`);

    // Two of the four newest events deleted: what is left is a whole chain.
    await deleteNewest(db, n1 + 2);
    const alone = await cli(env, ['audit', 'verify']);
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stdout).toBe(`chain whole: ${n1 + 2} events\n`);

    const checked = await cli(env, ['audit', 'verify', '--checkpoints', file]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toBe(
      `chancery: ${file} line 2 (${cps[1]!.at}, ${all.length} events): truncated: the store holds ${n1 + 2} events, the checkpoint ${all.length} (the newest events were deleted) — last good checkpoint: line 1 (${cps[0]!.at}, ${n1} events)\n`,
    );

    // All of them deleted, and the checkpointed head with them.
    await deleteNewest(db, n1 - 1);
    const none = await cli(env, ['audit', 'verify', '--checkpoints', file]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(new RegExp(`line 1 \\(${cps[0]!.at}, ${n1} events\\): truncated: the store holds ${n1 - 1} events.* — no good checkpoint\\n$`));
    await db.destroy();
  }, 180_000);

  it('finds a rewritten tail: the same number of events or more, with another hash at the checkpointed position', async () => {
    const { env, db, file } = await freshHome('rewritten');
    expect((await cli(env, ['audit', 'checkpoint'])).code).toBe(0);
    const n1 = (await events(db)).length;
    await appendSome(db, 3, 'sent as recorded');
    expect((await cli(env, ['audit', 'checkpoint'])).code).toBe(0);
    const n2 = (await events(db)).length;
    const cps = readCheckpoints(file);

    // The last three events replaced by others, appended through the normal code with fresh hashes.
    await deleteNewest(db, n1);
    await appendSome(db, 4, 'history as the attacker would have it');
    expect((await cli(env, ['audit', 'verify'])).code).toBe(0);

    const checked = await cli(env, ['audit', 'verify', '--checkpoints', file]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toBe(
      `chancery: ${file} line 2 (${cps[1]!.at}, ${n2} events): rewritten: event ${n2} has another hash than the one checkpointed — last good checkpoint: line 1 (${cps[0]!.at}, ${n1} events)\n`,
    );
    await db.destroy();
  }, 180_000);

  it('finds a checkpoint line altered after signing, and one signed by a key other than the one given', async () => {
    const { env, db, file } = await freshHome('tampered');
    expect((await cli(env, ['audit', 'checkpoint'])).code).toBe(0);
    await appendSome(db, 2, 'more');
    expect((await cli(env, ['audit', 'checkpoint'])).code).toBe(0);
    const cps = readCheckpoints(file);
    const n1 = cps[0]!.count;

    // The events after the first checkpoint deleted, and the second line edited to match the store.
    await deleteNewest(db, n1);
    const last = (await events(db)).at(-1)!;
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    lines[1] = JSON.stringify({ ...cps[1]!, count: n1, head: last.hash });
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const altered = await cli(env, ['audit', 'verify', '--checkpoints', file]);
    expect(altered.code).toBe(1);
    expect(altered.stderr).toBe(
      `chancery: ${file} line 2 (${cps[1]!.at}, ${n1} events): the signature does not match (the line was altered) — last good checkpoint: line 1 (${cps[0]!.at}, ${n1} events)\n`,
    );

    // Re-signed with a key of the attacker's own: only --public-key tells it apart.
    const otherKey = path.join(tmp, 'keys', 'attacker.pem');
    expect((await cli(env, ['audit', 'keygen', '--out', otherKey])).code).toBe(0);
    fs.writeFileSync(file, `${lines[0]}\n`);
    expect((await cli({ ...env, AUDIT_SIGNING_KEY_FILE: otherKey }, ['audit', 'checkpoint'])).code).toBe(0);
    expect((await cli(env, ['audit', 'verify', '--checkpoints', file])).code).toBe(0);
    const pinned = await cli(env, ['audit', 'verify', '--checkpoints', file, '--public-key', publicKeyFile]);
    expect(pinned.code).toBe(1);
    expect(pinned.stderr).toMatch(/ line 2 \(.*\): signed by SHA256:\S+, not by the key given \(SHA256:\S+\) — last good checkpoint: line 1 /);

    const garbled = path.join(tmp, 'garbled.jsonl');
    fs.writeFileSync(garbled, `${lines[0]}\n{"count": 1}\n`);
    const g = await cli(env, ['audit', 'verify', '--checkpoints', garbled]);
    expect(g.code).toBe(1);
    expect(g.stderr).toBe(`chancery: ${garbled} line 2: not a checkpoint line — last good checkpoint: line 1 (${cps[0]!.at}, ${n1} events)\n`);
    await db.destroy();
  }, 180_000);

  it('says what is wrong with the key and changes nothing', async () => {
    const { env, db, file } = await freshHome('keys');
    const unset = await cli({ ...env, AUDIT_SIGNING_KEY_FILE: undefined }, ['audit', 'checkpoint']);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toBe('chancery: AUDIT_SIGNING_KEY_FILE is not set (make a key with chancery audit keygen --out FILE)\n');
    const notKey = await cli({ ...env, AUDIT_SIGNING_KEY_FILE: path.join(ROOT, 'package.json') }, ['audit', 'checkpoint']);
    expect(notKey.code).toBe(1);
    expect(notKey.stderr).toBe(`chancery: AUDIT_SIGNING_KEY_FILE: ${path.join(ROOT, 'package.json')} is not a PEM private key (make one with chancery audit keygen --out FILE)\n`);
    expect(fs.existsSync(file)).toBe(false);
    const missing = await cli(env, ['audit', 'verify', '--checkpoints', path.join(tmp, 'nowhere.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`chancery: --checkpoints: cannot read ${path.join(tmp, 'nowhere.jsonl')} (ENOENT)\n`);
    await db.destroy();
  }, 180_000);
});

describe('the worker', () => {
  let redis: TestRedis;
  let t: DispatchEnv;

  beforeAll(async () => {
    redis = await startRedisServer();
    t = await dispatchEnv(redis.url, { extra: { AUDIT_SIGNING_KEY_FILE: keyFile } });
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
    await redis?.stop();
  });

  it('takes a checkpoint when a campaign ends, and once a day on the remind queue', async () => {
    const worker = await startWorkerProcess(t.env);
    const queue = new Queue(REMIND_QUEUE, { connection: new Redis(redis.url, { maxRetriesPerRequest: null }), prefix: t.cfg.QUEUE_PREFIX });
    try {
      const created = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/92 (W)', '--audience', 'FRA,DEU,AUT', '--reply-by', '2009-07-31', '--by', 'alice']);
      expect(created.code, created.stderr).toBe(0);
      const id = lastLine(created.stdout);
      expect((await cli(t.env, ['campaign', 'approve', id, '--by', 'bob'])).code).toBe(0);
      const sent = await cli(t.env, ['campaign', 'send', id, '--detach']);
      expect(sent.code, sent.stderr).toBe(0);
      expect(readCheckpoints(t.cfg.paths.checkpoints)).toEqual([]);

      await until(() => readCheckpoints(t.cfg.paths.checkpoints).length > 0, 60_000, () => `a checkpoint after campaign ${id}: ${worker.output()}`);
      const [cp] = readCheckpoints(t.cfg.paths.checkpoints);
      const db = await openDb(t.cfg.paths.db);
      try {
        const completed = await db.selectFrom('events').selectAll().where('type', '=', 'campaign.completed').where('campaign_id', '=', id).executeTakeFirstOrThrow();
        expect(completed.data).toBe('{"sent":3}');
        // The head as the campaign ended: its completion is the checkpointed head.
        expect(cp).toMatchObject({ count: completed.id, head: completed.hash });
      } finally {
        await db.destroy();
      }
      // Its log line follows the line in the file (a pipe between them: wait for it too).
      await until(() => worker.output().includes(`audit checkpoint: campaign ${id} done; ${cp!.count} events`), 60_000, () => `the worker's log: ${worker.output()}`);
      const verified = await cli(t.env, ['audit', 'verify', '--checkpoints', t.cfg.paths.checkpoints, '--public-key', publicKeyFile]);
      expect(verified.code, verified.stderr).toBe(0);

      // The daily one: a job scheduler on the remind queue; its job, run now, adds a line.
      const scheduler = await queue.getJobScheduler(CHECKPOINT_SCHEDULER_ID);
      expect(scheduler).toMatchObject({ pattern: '5 0 * * *', tz: t.cfg.DUTY_STATION_TZ, name: CHECKPOINT_JOB });
      await queue.add(CHECKPOINT_JOB, {});
      await until(() => readCheckpoints(t.cfg.paths.checkpoints).length === 2, 60_000, () => `the daily checkpoint: ${worker.output()}`);
      expect(readCheckpoints(t.cfg.paths.checkpoints)[1]).toMatchObject({ count: cp!.count, head: cp!.head });
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
      await queue.close();
    }
  }, 180_000);
});
