import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRecipients } from '../src/registry/index.ts';
import { openDb, type Db } from '../src/store/db.ts';
import { cli, lastLine, until } from './dispatch.fixture.ts';
import { pdfText } from './helpers/pdf.ts';
import { startPostgres, type TestPostgres } from './helpers/postgres.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';

/**
 * Issue 17: a worker on another machine needs only DATABASE_URL, REDIS_URL and SMTP_URL. The
 * operator (a home with the templates and the seed registry) creates, previews, approves and
 * sends the campaign to all 193 with the CLI; one render and one send worker run as processes of
 * their own, each in an empty working folder with an empty CHANCERY_HOME and an empty templates
 * folder: the approved templates, the registry and the PDFs come from the store. PostgreSQL is
 * this file's own (a private cluster), so it runs once, in the sqlite project.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const norm = (s: string) => s.replace(/\s+/g, ' ');

let pg: TestPostgres;
let redis: TestRedis;
let smtp: TestSmtpServer;
let tmp: string;
let db: Db;
const children: ChildProcess[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-remote-'));
  [pg, redis, smtp] = await Promise.all([startPostgres(), startRedisServer(), startSmtpServer()]);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await db?.destroy();
  await smtp?.stop();
  await redis?.stop();
  await pg?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** An empty folder under this run's temporary folder. */
function emptyDir(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  return dir;
}

/** Every file and folder under `dir`, relative to it. */
function contents(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

type Worker = { child: ChildProcess; output: () => string; exited: Promise<number | null>; dirs: string[] };

/**
 * `chancery worker --queues QUEUE` as on a machine of its own: the environment holds the three
 * URLs (and PATH, HOME), CHANCERY_HOME and CHANCERY_TEMPLATES are empty folders, and it runs in
 * an empty working folder (so no relative default finds the repository's files either).
 */
async function startRemoteWorker(queue: 'render' | 'send', urls: { DATABASE_URL: string; REDIS_URL: string; SMTP_URL: string }): Promise<Worker> {
  const dirs = [emptyDir(`${queue}-cwd`), emptyDir(`${queue}-home`), emptyDir(`${queue}-templates`)];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmp, ...urls, CHANCERY_HOME: dirs[1]!, CHANCERY_TEMPLATES: dirs[2]! };
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), 'worker', '--queues', queue], { env, cwd: dirs[0], stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await until(() => /ready:/.test(out) || child.exitCode !== null, 120_000, () => `the ${queue} worker to start: ${out}`);
  if (child.exitCode !== null) throw new Error(`the ${queue} worker exited: ${out}`);
  return { child, output: () => out, exited, dirs };
}

describe('render and send workers on other machines', () => {
  it('with only DATABASE_URL, REDIS_URL and SMTP_URL and empty folders, they send CU 2009/92 (A) to all 193, each letter to its State, and write nothing', async () => {
    const urls = { DATABASE_URL: await pg.createDatabase(), REDIS_URL: redis.url, SMTP_URL: smtp.url };
    const opHome = emptyDir('operator');
    const operator: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...urls,
      CHANCERY_HOME: opHome,
      CHANCERY_TEMPLATES: path.join(ROOT, 'templates'),
      CHANCERY_REGISTRY: path.join(ROOT, 'seeds', 'registry.json'),
    };

    // The operator's machine: create (the registry enters the store), preview, approve, send (enqueue only).
    const created = await cli(operator, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/92 (A)', '--audience', 'group:member-states', '--reply-by', '2009-07-31', '--by', 'alice']);
    expect(created.code, created.stderr).toBe(0);
    const id = lastLine(created.stdout);
    const preview = await cli(operator, ['preview', '--template', 'cu-2009-92', '--recipient', 'FRA', '--out', path.join(opHome, 'FRA.pdf')]);
    expect(preview.code, preview.stderr).toBe(0);
    expect(norm(await pdfText(path.join(opHome, 'FRA.pdf')))).toContain('CU 2009/92');
    const approved = await cli(operator, ['campaign', 'approve', id, '--by', 'bob']);
    expect(approved.code, approved.stderr).toBe(0);
    const sent = await cli(operator, ['campaign', 'send', id, '--detach', '--by', 'bob']);
    expect(sent.code, sent.stderr).toBe(0);

    // The workers' machines.
    const workers = await Promise.all([startRemoteWorker('render', urls), startRemoteWorker('send', urls)]);
    db = await openDb(urls.DATABASE_URL);
    let last = '';
    await until(
      async () => {
        const dead = workers.find((w) => w.child.exitCode !== null);
        if (dead) throw new Error(`a worker ended: ${dead.output().slice(-3000)}`);
        const c = await db.selectFrom('campaigns').select(['state', 'state_reason']).where('id', '=', id).executeTakeFirstOrThrow();
        last = JSON.stringify(c);
        if (c.state === 'paused') throw new Error(`the campaign paused: ${c.state_reason}`);
        const failed = await db.selectFrom('dispatches').select(['id', 'error']).where('campaign_id', '=', id).where('state', '=', 'failed').executeTakeFirst();
        if (failed) throw new Error(`dispatch ${failed.id} failed: ${failed.error}`);
        return c.state === 'done';
      },
      600_000,
      () => `the campaign to be done: ${last}; workers said: ${workers.map((w) => w.output().slice(-1500)).join(' | ')}`,
    );
    for (const w of workers) {
      w.child.kill('SIGTERM');
      expect(await w.exited, w.output()).toBe(0);
    }

    // Every dispatch sent, and one message per State, to its addresses, with its own letter.
    const rows = await db.selectFrom('dispatches').select(['id', 'recipient_id', 'state', 'message_id']).where('campaign_id', '=', id).execute();
    expect(rows).toHaveLength(193);
    expect(rows.filter((r) => r.state !== 'sent')).toEqual([]);
    const recipients = new Map((await listRecipients(db)).map((r) => [r.id, r]));
    expect(smtp.messages).toHaveLength(193);
    const byDispatch = new Map(smtp.messages.map((m) => [m.headers['x-chancery-dispatch'], m]));
    expect(byDispatch.size).toBe(193);
    const pending = [...rows];
    // pdftotext a few at a time: two cores, other test files beside this one.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let row = pending.pop(); row; row = pending.pop()) {
          const m = byDispatch.get(row.id);
          const r = recipients.get(row.recipient_id)!;
          expect(m, row.id).toBeDefined();
          expect(m!.messageId).toBe(row.message_id);
          expect(m!.to).toEqual(r.email.to);
          expect(m!.attachments.map((a) => a.mimeType)).toEqual(['application/pdf']);
          expect(norm(await pdfText(m!.attachments[0]!.content)), row.id).toContain(norm(r.address.lines[0]!));
        }
      }),
    );

    // Nothing written on the workers' machines: their folders are as empty as they were.
    for (const w of workers) for (const dir of w.dirs) expect(contents(dir), dir).toEqual([]);
  }, 900_000);
});
