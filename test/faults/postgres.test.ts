import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../../src/campaigns/context.ts';
import { createCampaign } from '../../src/campaigns/create.ts';
import { startSend } from '../../src/campaigns/lifecycle.ts';
import { progressOf, type RunProgress } from '../../workers/run.ts';
import { cli, startWorkerProcess, until } from '../dispatch.fixture.ts';
import { filePostgres } from '../helpers/engines.ts';
import type { TestPostgres } from '../helpers/postgres.ts';
import { startRedisServer, type TestRedis } from '../helpers/redis.ts';
import { outcome, faultEnv, writeReport, type FaultEnv } from './env.ts';
import { startFaultSmtp, type FaultSmtp } from './fault-smtp.ts';

/**
 * PostgreSQL under the workers (vitest.faults.config.ts runs this file in the postgres project):
 * campaigns sent by `chancery worker` processes, render and send apart, with only DATABASE_URL
 * pointing at the store.
 * - the server restarted as `pg_ctl restart -m immediate` does, twice in the middle of a
 *   campaign: the workers wait and carry on; nothing lost, every resend flagged, audit verify;
 * - two render and two send processes on 1,000 recipients: the audit chain stays one line.
 */

type Worker = Awaited<ReturnType<typeof startWorkerProcess>>;

let pg: TestPostgres;
let redis: TestRedis;
let smtp: FaultSmtp;
const workers: Worker[] = [];
const envs: FaultEnv[] = [];
const contexts: OpenedContext[] = [];

beforeAll(async () => {
  pg = await filePostgres();
  redis = await startRedisServer();
  smtp = await startFaultSmtp();
});
afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  for (const o of contexts) await o.close();
  await smtp?.stop();
  await redis?.stop();
  for (const t of envs) t.cleanup();
});

/** A campaign to `recipients` in a database of its own, ready for the workers; its own queue prefix. */
async function campaign(recipients: number, prefix: string) {
  const t = faultEnv({ redisUrl: redis.url, smtpUrl: smtp.urls[0], recipients, extra: { DATABASE_URL: await pg.createDatabase(), QUEUE_PREFIX: prefix, SEND_ATTEMPTS: '3', SEND_BACKOFF_MS: '200' } });
  envs.push(t);
  const opened = await openDispatchContext(t.cfg, { actor: 'test', log: () => {} });
  contexts.push(opened);
  const { db, cfg, queues } = opened.ctx;
  const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'all', replyBy: '2009-07-31', by: 'alice' });
  await approveCampaign(db, cfg, c.id, 'bob');
  expect((await startSend(db, cfg, queues, c.id, 'bob')).created).toBe(recipients);
  return { t, opened, id: c.id };
}

async function startWorkers(t: FaultEnv, renders: number, sends: number): Promise<Worker[]> {
  const started = await Promise.all([
    ...Array.from({ length: renders }, () => startWorkerProcess(t.env, ['--queues', 'render'])),
    ...Array.from({ length: sends }, () => startWorkerProcess(t.env, ['--queues', 'send'])),
  ]);
  workers.push(...started);
  return started;
}

/** Progress read from the store; undefined while this process's own pool is reconnecting. */
async function progress(opened: OpenedContext, id: string): Promise<RunProgress | undefined> {
  return progressOf(opened.ctx, id).catch(() => undefined);
}

/** Fails at once, with its output, when a worker process has ended (it must wait out an outage). */
function allAlive(started: Worker[]): void {
  const dead = started.find((w) => w.child.exitCode !== null || w.child.signalCode !== null);
  if (dead) throw new Error(`a worker ended: ${dead.output().slice(-3000)}`);
}

async function finish(opened: OpenedContext, id: string, started: Worker[]): Promise<RunProgress> {
  let last = '';
  await until(async () => {
    allAlive(started);
    const p = await progress(opened, id);
    last = JSON.stringify(p);
    return p?.open === 0;
  }, 400_000, () => `the campaign to finish: ${last}; workers said: ${started.map((w) => `[exit ${w.child.exitCode}] ${w.output().slice(-1500)}`).join(' | ')}`);
  for (const w of started) {
    w.child.kill('SIGTERM');
    expect(await w.exited, w.output()).toBe(0);
  }
  return (await progress(opened, id))!;
}

describe('PostgreSQL restarted (-m immediate) in the middle of a campaign', () => {
  it('the render and send workers wait and carry on: nothing lost, every resend flagged under its Message-ID, audit verify passes', async () => {
    const RECIPIENTS = 400;
    const RESTARTS = 2;
    smtp.received.length = 0;
    // Each message held 50-250 ms before the 250: restarts land while messages are in flight.
    smtp.decide = () => ({ kind: 'accept', delayMs: 50 + Math.floor(Math.random() * 200) });
    const { t, opened, id } = await campaign(RECIPIENTS, '{restart}');
    const begin = Date.now();
    const started = await startWorkers(t, 1, 1);
    let restarts = 0;
    let inFlightAtRestarts = 0;
    for (const fraction of [0.25, 0.6].slice(0, RESTARTS)) {
      await until(async () => (allAlive(started), ((await progress(opened, id))?.sent ?? 0) >= RECIPIENTS * fraction), 300_000, () => `${fraction * 100}% sent`);
      await until(() => smtp.pending[0]! > 0, 10_000, () => 'a message in flight');
      inFlightAtRestarts += smtp.pending[0]!;
      await pg.restart({ immediate: true, whileDown: () => sleep(1_000) });
      restarts++;
    }
    const final = await finish(opened, id, started);
    const o = await outcome(opened.ctx.db, id, smtp.received);
    const verify = await cli(t.env, ['audit', 'verify']);
    const waited = started.map((w) => (w.output().match(/store connection lost/g) ?? []).length);
    writeReport('postgres-restart', {
      recipients: RECIPIENTS,
      restarts,
      messagesInFlightAtRestarts: inFlightAtRestarts,
      stepsThatWaitedForTheStore: { render: waited[0], send: waited[1] },
      messagesReceived: smtp.received.length,
      sent: o.sent,
      failed: final.failed,
      lost: o.lost.length,
      resends: o.receivedTwice,
      resendsFlagged: o.flagged,
      flaggedPossibleDuplicates: o.flaggedInStore,
      unflaggedDuplicates: o.unflaggedDuplicates.length,
      auditEvents: o.auditEvents,
      auditVerify: verify.code,
      totalSeconds: Math.round((Date.now() - begin) / 1000),
    });

    expect(restarts).toBe(RESTARTS);
    expect(waited.reduce((a, b) => a + b, 0), 'some step met the outage').toBeGreaterThan(0);
    expect(final.failed).toBe(0);
    expect(final.campaignState).toBe('done');
    expect(o.lost).toEqual([]);
    expect(o.sent).toBe(RECIPIENTS);
    expect(o.unflaggedDuplicates).toEqual([]);
    expect(o.flagged).toBe(o.receivedTwice);
    expect(o.auditOk).toBe(true);
    expect(verify.code, verify.stderr).toBe(0);
  });
});

describe('the audit chain under concurrent writers on PostgreSQL', () => {
  it('a 1,000-recipient campaign sent by two render and two send processes: each note once, audit verify passes', async () => {
    const RECIPIENTS = 1000;
    smtp.received.length = 0;
    smtp.decide = () => ({ kind: 'accept' });
    const { t, opened, id } = await campaign(RECIPIENTS, '{concurrent}');
    const begin = Date.now();
    const final = await finish(opened, id, await startWorkers(t, 2, 2));
    const o = await outcome(opened.ctx.db, id, smtp.received);
    const verify = await cli(t.env, ['audit', 'verify']);
    writeReport('postgres-concurrent-writers', { recipients: RECIPIENTS, renderProcesses: 2, sendProcesses: 2, messagesReceived: smtp.received.length, sent: o.sent, duplicates: o.receivedTwice, auditEvents: o.auditEvents, auditVerify: verify.code, totalSeconds: Math.round((Date.now() - begin) / 1000) });

    expect(final.campaignState).toBe('done');
    expect(o.sent).toBe(RECIPIENTS);
    expect(o.lost).toEqual([]);
    expect(o.receivedTwice).toBe(0);
    expect(o.auditOk).toBe(true);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`${o.auditEvents}`));
  });
});
