import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { startSend } from '../src/campaigns/lifecycle.ts';
import { progressOf } from '../workers/run.ts';
import { dispatchEnv, startWorkerProcess, until, type DispatchEnv } from './dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

let redis: TestRedis;
let t: DispatchEnv;
let opened: OpenedContext;
let kill: (() => void) | undefined;

beforeAll(async () => {
  redis = await startRedisServer();
  t = await dispatchEnv(redis.url, {
    respondAt: 'data',
    // The worker process dies while the server takes the 26th message: it cannot record it as sent.
    respond: () => {
      if (t.smtp.messages.length >= 25 && kill) {
        kill();
        kill = undefined;
      }
      return undefined;
    },
  });
  opened = await openDispatchContext(t.cfg, { actor: 'test', log: () => {} });
});
afterAll(async () => {
  await opened?.close();
  await t?.cleanup();
  await redis?.stop();
});

describe('a worker killed in the middle of a campaign', () => {
  it('restarted, completes it: no recipient missing, none sent twice except those marked possible duplicates (same Message-ID)', async () => {
    const { db, cfg, queues } = opened.ctx;
    const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'group:member-states', replyBy: '2009-07-31', by: 'alice' });
    await approveCampaign(db, cfg, c.id, 'bob');
    const started = await startSend(db, cfg, queues, c.id, 'bob'); // as `campaign send --detach`
    expect(started.created).toBe(193);

    const first = await startWorkerProcess(t.env, ['--concurrency', '4']);
    kill = () => first.child.kill('SIGKILL');
    const code = await first.exited;
    expect(code).toBeNull(); // killed by the signal, not exited
    const mid = await progressOf(opened.ctx, c.id);
    expect(mid.sent).toBeLessThan(193);
    const inFlight = await db.selectFrom('dispatches').select('id').where('campaign_id', '=', c.id).where('state', '=', 'sending').execute();
    expect(inFlight.length).toBeGreaterThanOrEqual(1);

    const second = await startWorkerProcess(t.env, ['--concurrency', '4']);
    await until(async () => (await progressOf(opened.ctx, c.id)).open === 0, 90_000, () => `the campaign to finish: ${second.output()}`);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(second.output()).toMatch(/SIGTERM: stopping[\s\S]*"msg":"stopped"/);

    const rows = await db.selectFrom('dispatches').selectAll().where('campaign_id', '=', c.id).execute();
    expect(rows).toHaveLength(193);
    expect(rows.every((r) => r.state === 'sent')).toBe(true);
    const received = new Map<string, string[]>();
    for (const m of t.smtp.messages) {
      const k = m.headers['x-chancery-dispatch']!;
      received.set(k, [...(received.get(k) ?? []), m.messageId]);
    }
    let duplicates = 0;
    for (const r of rows) {
      const ids = received.get(r.id) ?? [];
      expect(ids.length, `${r.recipient_id} received`).toBeGreaterThanOrEqual(1);
      if (ids.length > 1) {
        duplicates++;
        expect(r.possible_duplicate, `${r.recipient_id} sent ${ids.length} times`).toBe(1);
        expect(new Set(ids)).toEqual(new Set([r.message_id]));
      }
    }
    // The message accepted while the worker died was resent, marked, under the same Message-ID.
    expect(duplicates).toBeGreaterThanOrEqual(1);
    const marked = rows.filter((r) => r.possible_duplicate === 1);
    expect(marked.length).toBe(inFlight.length);
    const events = await db.selectFrom('events').select(['dispatch_id']).where('campaign_id', '=', c.id).where('type', '=', 'dispatch.possible-duplicate').execute();
    expect(new Set(events.map((e) => e.dispatch_id))).toEqual(new Set(marked.map((r) => r.id)));
    expect((await progressOf(opened.ctx, c.id)).campaignState).toBe('done');
  });
});

describe('worker CPU priority', () => {
  it('a worker that only renders lowers its priority by RENDER_WORKER_NICE; one that sends keeps it', async () => {
    const base = os.getPriority();
    const render = await startWorkerProcess({ ...t.env, RENDER_WORKER_NICE: '7' }, ['--queues', 'render']);
    const send = await startWorkerProcess({ ...t.env, RENDER_WORKER_NICE: '7' }, ['--queues', 'send']);
    try {
      expect(os.getPriority(render.child.pid!)).toBe(Math.min(19, base + 7));
      expect(render.output()).toMatch(new RegExp(`ready: .*; nice ${Math.min(19, base + 7)}`));
      expect(os.getPriority(send.child.pid!)).toBe(base);
      expect(send.output()).not.toMatch(/nice/);
    } finally {
      render.child.kill('SIGTERM');
      send.child.kill('SIGTERM');
      expect(await render.exited).toBe(0);
      expect(await send.exited).toBe(0);
    }
  });
});
