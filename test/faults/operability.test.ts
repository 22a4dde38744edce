import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../../src/campaigns/approval.ts';
import { openDispatchContext } from '../../src/campaigns/context.ts';
import { createCampaign } from '../../src/campaigns/create.ts';
import { startSend } from '../../src/campaigns/lifecycle.ts';
import { freePort } from '../../src/queue/redis.ts';
import { listRecipients } from '../../src/registry/index.ts';
import { openDb } from '../../src/store/db.ts';
import { progressOf } from '../../workers/run.ts';
import { cli, until } from '../dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from '../helpers/redis.ts';
import { faultEnv, outcome, ROOT, writeReport, type FaultEnv } from './env.ts';
import { startFaultSmtp, type FaultSmtp } from './fault-smtp.ts';

/**
 * Operability (issue 25), with real processes: SIGTERM stops `chancery worker`, `chancery serve`
 * and `campaign send` within 10 s with exit 0 whatever is down (Redis away, SMTP silent in the
 * middle of DATA); nothing is lost and a send cut short comes back flagged. A 30-second Redis
 * outage gives a handful of log lines, and /readyz says 503 during it, 200 after.
 */

let redis: TestRedis;
let smtp: FaultSmtp;
const report: Record<string, unknown> = {};
const children = new Set<ChildProcess>();
beforeAll(async () => {
  redis = await startRedisServer();
  smtp = await startFaultSmtp({ query: 'socketTimeout=60000' });
});
afterAll(async () => {
  writeReport('operability', report);
  for (const c of children) c.kill('SIGKILL');
  await smtp?.stop();
  await redis?.stop();
});

type Proc = { child: ChildProcess; output: () => string; lines: () => Record<string, unknown>[]; exited: Promise<number | null> };

/** A long-running `chancery ARGS` with JSON log lines on stderr. */
function start(t: FaultEnv, args: string[]): Proc {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), ...args], { env: { ...t.env, LOG_FORMAT: 'json' }, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, output: () => `${out}\n${err}`, lines, exited };
}

/** SIGTERM; resolves with the exit status and the milliseconds it took. */
async function stopWith(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; ms: number }> {
  const began = Date.now();
  p.child.kill(signal);
  const code = await Promise.race([p.exited, sleep(15_000).then(() => 'hung' as const)]);
  const ms = Date.now() - began;
  if (code === 'hung') {
    p.child.kill('SIGKILL');
    throw new Error(`still running 15 s after ${signal}: ${p.output().slice(-3000)}`);
  }
  return { code, ms };
}

async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; unreachable?: string[] } }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; unreachable?: string[] } };
}

/** A campaign to the first n Member States, approved and (unless enqueue: false) enqueued; the test's own connections closed after. */
async function campaign(t: FaultEnv, n: number, opts: { enqueue?: boolean } = {}): Promise<{ id: string; dispatchIds: string[] }> {
  const opened = await openDispatchContext(t.cfg, { actor: 'test', log: () => {} });
  try {
    const { db, cfg, queues } = opened.ctx;
    const ids = (await listRecipients(db)).filter((r) => r.groups.includes('member-states')).slice(0, n).map((r) => r.id);
    const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: ids.join(','), replyBy: '2009-07-31', by: 'alice' });
    await approveCampaign(db, cfg, c.id, 'bob');
    if (opts.enqueue !== false) await startSend(db, cfg, queues, c.id, 'bob');
    return { id: c.id, dispatchIds: ids.map((r) => `note-${c.id}-${r}`) };
  } finally {
    await opened.close();
  }
}

/** A fresh worker sends what is left; then: nothing lost, duplicates flagged, `audit verify` passes. */
async function finishAndCheck(t: FaultEnv, id: string, base: number) {
  const w = start(t, ['worker']);
  const db = await openDb(t.cfg.paths.db);
  try {
    await until(async () => (await progressOf({ db }, id)).open === 0, 120_000, () => `the campaign to finish: ${w.output().slice(-2000)}`);
    expect((await stopWith(w)).code).toBe(0);
    const o = await outcome(db, id, smtp.received.slice(base));
    expect(o.lost).toEqual([]);
    expect(o.unflaggedDuplicates).toEqual([]);
    expect(o.auditOk).toBe(true);
    const verify = await cli(t.env, ['audit', 'verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    return o;
  } finally {
    await db.destroy();
  }
}

type Kind = 'worker' | 'serve' | 'campaign send';

/** Starts the process that does the sending; resolves once it has taken some work. */
async function startSender(t: FaultEnv, kind: Kind, id: string, healthPort: number): Promise<Proc> {
  const args = kind === 'worker' ? ['worker', '--health-port', String(healthPort)] : kind === 'serve' ? ['serve', '--port', String(healthPort)] : ['campaign', 'send', id, '--by', 'bob'];
  const p = start(t, args);
  if (kind !== 'campaign send') await until(() => /ready:|console ready/.test(p.output()) || p.child.exitCode !== null, 60_000, () => `${kind} to start: ${p.output()}`);
  expect(p.child.exitCode, p.output()).toBeNull();
  return p;
}

describe('stopping with a part down', () => {
  for (const kind of ['worker', 'serve', 'campaign send'] as Kind[]) {
    it(`${kind}: SIGTERM while Redis is away stops it within 10 s with exit 0; nothing lost afterwards`, async () => {
      const t = faultEnv({ redisUrl: redis.url, smtpUrl: smtp.urls[0], extra: { QUEUE_PREFIX: `{stop-redis-${kind.replace(' ', '-')}}` } });
      try {
        smtp.decide = () => ({ kind: 'accept', delayMs: 100 });
        const { id } = await campaign(t, 40, { enqueue: kind !== 'campaign send' });
        const base = smtp.received.length;
        const port = await freePort();
        const p = await startSender(t, kind, id, port);
        await until(() => smtp.received.length - base >= 5, 60_000, () => `5 messages: ${p.output().slice(-2000)}`);
        let stopped = { code: null as number | null, ms: 0 };
        await redis.restart(async () => {
          if (kind !== 'campaign send') {
            const r = await readyz(port);
            expect(r.status).toBe(503);
            expect(r.body.unreachable).toEqual(['redis']);
          }
          await until(() => p.lines().some((l) => /redis unreachable/.test(String(l.msg))), 30_000, () => `the outage in the log: ${p.output().slice(-2000)}`);
          stopped = await stopWith(p);
        });
        report[`redisDown_${kind.replace(' ', '_')}`] = { exitCode: stopped.code, stopSeconds: Math.round(stopped.ms / 100) / 10 };
        expect(stopped.code, p.output().slice(-3000)).toBe(0);
        expect(stopped.ms).toBeLessThan(10_000);
        expect(p.output()).not.toMatch(/\n\s+at /); // no stack trace for an expected outage
        const o = await finishAndCheck(t, id, base);
        expect(o.dispatches).toBe(40);
      } finally {
        t.cleanup();
      }
    });
  }

  for (const kind of ['worker', 'serve'] as Kind[]) {
    it(`${kind}: SIGTERM while the SMTP server is silent in the middle of DATA stops it within 10 s with exit 0; the sends cut short are resent flagged`, async () => {
      const t = faultEnv({ redisUrl: redis.url, smtpUrl: smtp.urls[0], extra: { QUEUE_PREFIX: `{stop-smtp-${kind}}`, SEND_CONCURRENCY: '4' } });
      try {
        const { id, dispatchIds } = await campaign(t, 12);
        const silent = new Set(dispatchIds.slice(0, 2));
        // The server takes these two messages the first time and never answers.
        smtp.decide = ({ dispatchId, attempt }) => (silent.has(dispatchId) && attempt === 1 ? { kind: 'hang' } : { kind: 'accept' });
        const base = smtp.received.length;
        const p = await startSender(t, kind, id, await freePort());
        const db = await openDb(t.cfg.paths.db);
        try {
          // Everything else sent; the two silent ones in hand.
          await until(async () => (await progressOf({ db }, id)).sent === 10 && smtp.received.slice(base).filter((r) => silent.has(r.dispatchId)).length === 2, 60_000, () => `10 sent and 2 hanging: ${p.output().slice(-2000)}`);
        } finally {
          await db.destroy();
        }
        const stopped = await stopWith(p);
        report[`smtpSilent_${kind}`] = { exitCode: stopped.code, stopSeconds: Math.round(stopped.ms / 100) / 10, released: 2 };
        expect(stopped.code, p.output().slice(-3000)).toBe(0);
        expect(stopped.ms).toBeLessThan(10_000);
        expect(p.lines().some((l) => /releasing them/.test(String(l.msg)))).toBe(true);
        const o = await finishAndCheck(t, id, base);
        // Each silent message was taken once by the server and resent under the same Message-ID, flagged.
        expect(o.receivedTwice).toBe(2);
        expect(o.flagged).toBe(2);
      } finally {
        t.cleanup();
      }
    });
  }

  it('a second signal exits at once (status 143); the sends it cut are resumed as after a crash, flagged', async () => {
    const t = faultEnv({ redisUrl: redis.url, smtpUrl: smtp.urls[0], extra: { QUEUE_PREFIX: '{stop-twice}', SEND_CONCURRENCY: '4' } });
    try {
      const { id, dispatchIds } = await campaign(t, 6);
      const silent = new Set(dispatchIds.slice(0, 1));
      smtp.decide = ({ dispatchId, attempt }) => (silent.has(dispatchId) && attempt === 1 ? { kind: 'hang' } : { kind: 'accept' });
      const base = smtp.received.length;
      const p = await startSender(t, 'worker', id, await freePort());
      const db = await openDb(t.cfg.paths.db);
      try {
        // The others sent; only the silent one in hand.
        await until(async () => (await progressOf({ db }, id)).sent === 5 && smtp.received.slice(base).some((r) => silent.has(r.dispatchId)), 60_000, () => `5 sent and the silent one: ${p.output().slice(-2000)}`);
      } finally {
        await db.destroy();
      }
      p.child.kill('SIGTERM');
      await until(() => p.lines().some((l) => /SIGTERM: stopping/.test(String(l.msg))), 10_000, () => 'the first signal in the log');
      const stopped = await stopWith(p);
      expect(stopped.code).toBe(143);
      expect(p.lines().some((l) => /SIGTERM again: exiting now/.test(String(l.msg)))).toBe(true);
      const o = await finishAndCheck(t, id, base);
      expect(o.receivedTwice).toBe(1);
      expect(o.flagged).toBe(1);
    } finally {
      t.cleanup();
    }
  });
});

describe('a 30-second Redis outage, seen by a worker', () => {
  it('logs a handful of lines (down, one every LOG_OUTAGE_EVERY_MS with the attempts, back with the time away), no stack; /readyz 503 during it, 200 after', async () => {
    const t = faultEnv({ redisUrl: redis.url, smtpUrl: smtp.urls[0], extra: { QUEUE_PREFIX: '{outage-log}', LOG_OUTAGE_EVERY_MS: '10000' } });
    try {
      const port = await freePort();
      const w = await startSender(t, 'worker', '', port);
      expect((await readyz(port)).status).toBe(200);
      const before = w.lines().length;
      let during = { status: 0, unreachable: [] as string[] | undefined };
      await redis.restart(async () => {
        await sleep(15_000);
        const r = await readyz(port);
        during = { status: r.status, unreachable: r.body.unreachable };
        await sleep(15_000);
      });
      await until(() => w.lines().some((l) => /redis back after/.test(String(l.msg))), 60_000, () => `the worker to see Redis back: ${w.output().slice(-2000)}`);
      await until(async () => (await readyz(port)).status === 200, 10_000, () => '/readyz 200');
      const lines = w.lines().slice(before);
      const down = lines.filter((l) => /redis unreachable/.test(String(l.msg)));
      const still = lines.filter((l) => /redis still unreachable/.test(String(l.msg)));
      const back = lines.filter((l) => /redis back after/.test(String(l.msg)));
      report.outageLog = { outageSeconds: 30, lines: lines.length, still: still.length, backAfterSeconds: back[0]?.down_s, attempts: back[0]?.attempts, readyzDuring: during.status };
      expect(during).toEqual({ status: 503, unreachable: ['redis'] });
      expect(down).toHaveLength(1);
      expect(back).toHaveLength(1);
      expect(Number(back[0]!.down_s)).toBeGreaterThanOrEqual(30);
      // One line every 10 s while away: 30 s, and up to the workers' reconnection backoff more.
      const tens = Math.floor(Number(back[0]!.down_s) / 10);
      expect(still.length).toBeGreaterThanOrEqual(tens - 1);
      expect(still.length).toBeLessThanOrEqual(tens);
      expect(Number(still.at(-1)!.attempts)).toBeGreaterThan(1);
      expect(lines.length).toBe(down.length + still.length + back.length);
      expect(w.output()).not.toMatch(/\n\s+at /);
      expect((await stopWith(w)).code).toBe(0);
    } finally {
      t.cleanup();
    }
  });
});
