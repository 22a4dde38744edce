import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../../src/campaigns/context.ts';
import { createCampaign } from '../../src/campaigns/create.ts';
import { startSend } from '../../src/campaigns/lifecycle.ts';
import { freePort } from '../../src/queue/redis.ts';
import { listRecipients } from '../../src/registry/index.ts';
import { openDb } from '../../src/store/db.ts';
import { progressOf } from '../../workers/run.ts';
import { cli, lastLine, startWorkerProcess, until } from '../dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from '../helpers/redis.ts';
import { faultEnv, outcome, ROOT, writeReport, type FaultEnv } from './env.ts';
import { startFaultSmtp, type FaultSmtp } from './fault-smtp.ts';

/** Redis restarted (AOF) in the middle of a campaign; Redis unreachable for producers and workers. */

let redis: TestRedis;
let smtp: FaultSmtp;
const report: Record<string, unknown> = {};
const children: { kill(s: NodeJS.Signals): boolean }[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
  smtp = await startFaultSmtp();
  smtp.decide = () => ({ kind: 'accept', delayMs: 20 });
});
afterAll(async () => {
  writeReport('redis', report);
  for (const c of children) c.kill('SIGKILL');
  await smtp?.stop();
  await redis?.stop();
});

async function launch(t: FaultEnv, opened: OpenedContext, n: number): Promise<string> {
  const { db, cfg, queues } = opened.ctx;
  const ids = (await listRecipients(db)).filter((r) => r.groups.includes('member-states')).slice(0, n).map((r) => r.id);
  const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: ids.join(','), replyBy: '2009-07-31', by: 'alice' });
  await approveCampaign(db, cfg, c.id, 'bob');
  await startSend(db, cfg, queues, c.id, 'bob');
  return c.id;
}

describe('Redis faults', () => {
  it('restarted twice in the middle of a campaign (append-only file): the campaign completes, nothing lost', async () => {
    const t = faultEnv({ redisUrl: redis.url, smtpUrl: smtp.urls[0], extra: { QUEUE_PREFIX: '{restart}' } });
    const opened = await openDispatchContext(t.cfg, { actor: 'test', log: () => {} });
    try {
      const id = await launch(t, opened, 120);
      const base = smtp.received.length;
      const worker = await startWorkerProcess(t.env, ['--concurrency', '4']);
      children.push(worker.child);
      let restarts = 0;
      for (const at of [30, 75]) {
        await until(() => smtp.received.length - base >= at, 120_000, () => `${at} messages`);
        await redis.restart();
        restarts++;
      }
      await until(async () => (await progressOf(opened.ctx, id)).open === 0, 180_000, () => `the campaign to finish: ${worker.output().slice(-2000)}`);
      expect(worker.child.exitCode).toBeNull(); // rode out both restarts
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      const o = await outcome(opened.ctx.db, id, smtp.received.slice(base));
      report.restart = { dispatches: o.dispatches, restarts, lost: o.lost.length, duplicates: o.receivedTwice, duplicatesFlagged: o.flagged, flagged: o.flaggedInStore, auditChainVerifies: o.auditOk };
      expect(o.dispatches).toBe(120);
      expect(o.lost).toEqual([]);
      expect(o.unflaggedDuplicates).toEqual([]);
      expect(o.auditOk).toBe(true);
      expect((await progressOf(opened.ctx, id)).campaignState).toBe('done');
    } finally {
      await opened.close();
      t.cleanup();
    }
  });

  it('unreachable: `campaign send --detach` exits 3 at once with one line, and writes nothing', async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const t = faultEnv({ redisUrl: dead, smtpUrl: smtp.urls[0] });
    try {
      const created = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/92 (A)', '--audience', 'FRA,DEU,BRA', '--reply-by', '2009-07-31', '--by', 'alice']);
      expect(created.code, created.stderr).toBe(0);
      const id = lastLine(created.stdout);
      expect((await cli(t.env, ['campaign', 'approve', id, '--by', 'bob'])).code).toBe(0);
      const began = Date.now();
      const sent = await cli(t.env, ['campaign', 'send', id, '--detach', '--by', 'bob']);
      const seconds = (Date.now() - began) / 1000;
      report.unreachableProducer = { exitCode: sent.code, seconds: Math.round(seconds * 10) / 10, message: sent.stderr.trim() };
      expect(sent.code).toBe(3);
      const lines = sent.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^chancery: REDIS_URL redis:\/\/127\.0\.0\.1:\d+\/? is unreachable: .*ECONNREFUSED/);
      expect(sent.stderr).not.toMatch(/\n\s+at /);
      const db = await openDb(t.cfg.paths.db);
      try {
        const c = await db.selectFrom('campaigns').select('state').where('id', '=', id).executeTakeFirstOrThrow();
        expect(c.state).toBe('approved');
        const d = await db.selectFrom('dispatches').select('id').where('campaign_id', '=', id).execute();
        expect(d).toHaveLength(0);
      } finally {
        await db.destroy();
      }
    } finally {
      t.cleanup();
    }
  });

  it('unreachable for a while: a running worker waits and resumes; a worker started meanwhile waits for it', async () => {
    const t = faultEnv({ redisUrl: redis.url, smtpUrl: smtp.urls[0], extra: { QUEUE_PREFIX: '{outage}' } });
    const opened = await openDispatchContext(t.cfg, { actor: 'test', log: () => {} });
    try {
      const id = await launch(t, opened, 60);
      const base = smtp.received.length;
      const running = await startWorkerProcess(t.env, ['--concurrency', '4']);
      children.push(running.child);
      await until(() => smtp.received.length - base >= 15, 120_000, () => '15 messages');
      let late: ReturnType<typeof spawn> | undefined;
      let lateOut = '';
      let sentWhileDown = 0;
      await redis.restart(async () => {
        const atStop = smtp.received.length;
        // A second worker starts while Redis is away: it must wait, not exit.
        late = spawn(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), 'worker', '--concurrency', '2'], { env: t.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(late);
        late.stdout!.on('data', (d: Buffer) => (lateOut += d.toString()));
        late.stderr!.on('data', (d: Buffer) => (lateOut += d.toString()));
        await sleep(6000);
        // Messages already in hand when Redis went may still finish; no new job can start.
        sentWhileDown = smtp.received.length - atStop;
        expect(running.child.exitCode).toBeNull();
        expect(late.exitCode, lateOut).toBeNull();
        expect(lateOut).toMatch(/waiting for Redis/);
      });
      await until(async () => (await progressOf(opened.ctx, id)).open === 0, 180_000, () => `the campaign to finish: ${running.output().slice(-1500)}\n${lateOut.slice(-1500)}`);
      await until(() => /ready:/.test(lateOut), 60_000, () => `the late worker to start: ${lateOut}`);
      running.child.kill('SIGTERM');
      late!.kill('SIGTERM');
      expect(await running.exited).toBe(0);
      const o = await outcome(opened.ctx.db, id, smtp.received.slice(base));
      report.outage = { dispatches: o.dispatches, outageSeconds: 6, sentWhileDown, lost: o.lost.length, duplicates: o.receivedTwice, duplicatesFlagged: o.flagged, workerStartedDuringOutageWaited: true };
      expect(o.lost).toEqual([]);
      expect(o.unflaggedDuplicates).toEqual([]);
      expect(o.auditOk).toBe(true);
    } finally {
      await opened.close();
      t.cleanup();
    }
  });
});
