import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../../src/campaigns/context.ts';
import { createCampaign } from '../../src/campaigns/create.ts';
import { startSend } from '../../src/campaigns/lifecycle.ts';
import { progressOf } from '../../workers/run.ts';
import { startWorkerProcess, until } from '../dispatch.fixture.ts';
import { freshStoreEnv, TEST_ENGINE } from '../helpers/engines.ts';
import { startRedisServer, type TestRedis } from '../helpers/redis.ts';
import { outcome, faultEnv, writeReport, type FaultEnv } from './env.ts';
import { startFaultSmtp, type FaultSmtp } from './fault-smtp.ts';

/**
 * 1,000 recipients, two `chancery worker` processes, SIGKILL at random moments (at least 20
 * times), each restarted. The SMTP server waits 250-750 ms between taking a message and
 * answering 250, so many kills land after the server took a message and before the store
 * recorded it: those must come back as resends under the same Message-ID, flagged.
 * Runs on both engines (vitest.faults.config.ts: projects sqlite and postgres).
 */

const RECIPIENTS = 1000;
const MIN_KILLS = 20;
const MAX_KILLS = 36;
const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded generator, so a failing run can be replayed with FAULTS_SEED. */
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Worker = Awaited<ReturnType<typeof startWorkerProcess>>;

let redis: TestRedis;
let smtp: FaultSmtp;
let t: FaultEnv;
let opened: OpenedContext;
const live: (Worker | undefined)[] = [undefined, undefined];

beforeAll(async () => {
  redis = await startRedisServer();
  smtp = await startFaultSmtp({ lanes: 2 });
  t = faultEnv({ redisUrl: redis.url, recipients: RECIPIENTS, extra: await freshStoreEnv() });
  opened = await openDispatchContext(t.cfg, { actor: 'test', log: () => {} });
});
afterAll(async () => {
  for (const w of live) w?.child.kill('SIGKILL');
  await opened?.close();
  await smtp?.stop();
  await redis?.stop();
  t?.cleanup();
});

describe('worker processes killed with SIGKILL during a 1,000-recipient campaign', () => {
  it('every note is delivered, none lost; every duplicate shares its Message-ID and is flagged; the audit chain verifies', async () => {
    const random = rng(seed);
    smtp.decide = () => ({ kind: 'accept', delayMs: 250 + Math.floor(random() * 500) });
    const { db, cfg, queues } = opened.ctx;
    const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'all', replyBy: '2009-07-31', by: 'alice' });
    await approveCampaign(db, cfg, c.id, 'bob');
    const started = await startSend(db, cfg, queues, c.id, 'bob');
    expect(started.created).toBe(RECIPIENTS);

    // Each worker process sends through its own port of the server: its pending replies are known.
    const envFor = (i: number) => ({ ...t.env, SMTP_URL: smtp.urls[i] });
    const begin = Date.now();
    const restarting: Promise<void>[] = [];
    const start = async (i: number) => {
      live[i] = await startWorkerProcess(envFor(i), ['--concurrency', '4']);
    };
    await Promise.all([start(0), start(1)]);

    let kills = 0;
    let killsInWindow = 0;
    let pendingAtKills = 0;
    const open = async () => (await progressOf(opened.ctx, c.id)).open;
    while (kills < MAX_KILLS && (await open()) > 0) {
      await sleep(300 + Math.floor(random() * 1200));
      const candidates = [0, 1].filter((i) => live[i] !== undefined);
      if (candidates.length === 0) continue;
      const i = candidates[Math.floor(random() * candidates.length)]!;
      // Three kills in four wait (up to 2 s) for a message taken and not yet answered on that lane.
      if (random() < 0.75) {
        const deadline = Date.now() + 2000;
        while (smtp.pending[i]! === 0 && Date.now() < deadline) await sleep(5);
      }
      const w = live[i]!;
      live[i] = undefined;
      const pendingNow = smtp.pending[i]!;
      w.child.kill('SIGKILL');
      kills++;
      if (pendingNow > 0) killsInWindow++;
      pendingAtKills += pendingNow;
      expect(await w.exited).toBeNull(); // died of the signal
      restarting.push(start(i));
    }
    await Promise.all(restarting);
    const killPhaseMs = Date.now() - begin;
    let last = '';
    await until(async () => {
      const p = await progressOf(opened.ctx, c.id);
      last = JSON.stringify(p);
      return p.open === 0;
    }, 300_000, () => `the campaign to finish: ${last}`);
    for (const [i, w] of live.entries()) {
      if (!w) continue;
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      live[i] = undefined;
    }

    const o = await outcome(db, c.id, smtp.received);
    const final = await progressOf(opened.ctx, c.id);
    const report = {
      seed,
      recipients: RECIPIENTS,
      kills,
      restarts: kills,
      killsAfterServerAcceptedBeforeStoreWrite: killsInWindow,
      messagesTakenButUnansweredAtKills: pendingAtKills,
      messagesReceived: smtp.received.length,
      sent: o.sent,
      lost: o.lost.length,
      duplicates: o.receivedTwice,
      duplicatesSharingMessageId: o.sameMessageId,
      duplicatesFlagged: o.flagged,
      flaggedPossibleDuplicates: o.flaggedInStore,
      unflaggedDuplicates: o.unflaggedDuplicates.length,
      auditEvents: o.auditEvents,
      auditChainVerifies: o.auditOk,
      campaignState: final.campaignState,
      killPhaseSeconds: Math.round(killPhaseMs / 1000),
      totalSeconds: Math.round((Date.now() - begin) / 1000),
    };
    writeReport(TEST_ENGINE === 'sqlite' ? 'crash' : `crash-${TEST_ENGINE}`, report);

    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(killsInWindow).toBeGreaterThan(0);
    expect(o.dispatches).toBe(RECIPIENTS);
    expect(o.lost).toEqual([]);
    expect(o.sent).toBe(RECIPIENTS);
    expect(o.unflaggedDuplicates).toEqual([]);
    expect(o.sameMessageId).toBe(o.receivedTwice);
    expect(o.flagged).toBe(o.receivedTwice);
    expect(o.auditProblem).toBeUndefined();
    expect(o.auditOk).toBe(true);
    expect(final.campaignState).toBe('done');
  });
});
