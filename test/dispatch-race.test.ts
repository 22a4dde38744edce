import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/audit/verify.ts';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { startSend } from '../src/campaigns/lifecycle.ts';
import { jobIdFor } from '../src/queue/queues.ts';
import { listRecipients } from '../src/registry/index.ts';
import { progressOf } from '../workers/run.ts';
import { startRenderWorker } from '../workers/render.ts';
import { startSendWorker } from '../workers/send.ts';
import { dispatchEnv, until, type DispatchEnv } from './dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

/**
 * Two send workers racing for one dispatch (runs on both engines, vitest.config.ts): every
 * dispatch has two send jobs, side by side in the queue, taken by two workers each on its own
 * connection to the store (two pools on PostgreSQL). The claim in the store lets one through.
 */

const N = 40;
let redis: TestRedis;
let t: DispatchEnv;
const opened: OpenedContext[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  t = await dispatchEnv(redis.url);
  for (let i = 0; i < 2; i++) opened.push(await openDispatchContext(t.cfg, { actor: `worker-${i}`, mailer: true, log: () => {} }));
});
afterAll(async () => {
  for (const o of opened) await o.close();
  await t?.cleanup();
  await redis?.stop();
});

describe('two send workers racing for one dispatch', () => {
  it('each note leaves once: one job sends it, its twin finds it held or sent; no possible duplicate; the chain verifies', async () => {
    const [a, b] = opened as [OpenedContext, OpenedContext];
    const { db, cfg, queues } = a.ctx;
    const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: (await listRecipients(db)).slice(0, N).map((r) => r.id).join(','), replyBy: '2009-07-31', by: 'alice' });
    await approveCampaign(db, cfg, c.id, 'bob');
    await startSend(db, cfg, queues, c.id, 'bob');
    const all = await db.selectFrom('dispatches').select('id').where('campaign_id', '=', c.id).orderBy('id').execute();

    // Render everything first; the send jobs the render step enqueued are replaced by pairs below.
    const render = startRenderWorker(a.ctx, a.redis);
    await until(async () => (await db.selectFrom('dispatches').select('id').where('campaign_id', '=', c.id).where('state', '=', 'rendered').execute()).length === all.length, 120_000, () => 'every letter rendered');
    await render.close();
    await queues.send.obliterate({ force: true });
    const chosen = all;
    expect(chosen.length).toBe(N);
    await queues.send.addBulk(chosen.flatMap((d) => [7, 8].map((round) => ({ name: 'send', data: { campaignId: c.id, dispatchId: d.id }, opts: { jobId: jobIdFor(d.id, round) } }))));

    const outcomes: Record<string, number> = {};
    const workers = [a, b].map((o) => startSendWorker(o.ctx, o.redis, { concurrency: 4 }));
    for (const w of workers) w.on('completed', (_job, result: string) => (outcomes[result] = (outcomes[result] ?? 0) + 1));
    await until(() => Object.values(outcomes).reduce((x, y) => x + y, 0) === 2 * N, 120_000, () => `both jobs of every dispatch done: ${JSON.stringify(outcomes)}`);
    await Promise.all(workers.map((w) => w.close()));

    const rows = await db.selectFrom('dispatches').select(['id', 'state', 'possible_duplicate', 'message_id']).where('id', 'in', chosen.map((d) => d.id)).execute();
    expect(rows.every((r) => r.state === 'sent' && r.possible_duplicate === 0)).toBe(true);
    const received = t.smtp.messages.map((m) => m.messageId).sort();
    expect(received).toEqual(rows.map((r) => r.message_id).sort());
    expect(new Set(received).size).toBe(N);
    expect(outcomes.sent).toBe(N);
    expect((outcomes['skipped-held'] ?? 0) + (outcomes['skipped-done'] ?? 0)).toBe(N);
    const sentEvents = await db.selectFrom('events').select('id').where('campaign_id', '=', c.id).where('type', '=', 'dispatch.sent').execute();
    expect(sentEvents.length).toBe(N);
    expect((await verifyChain(db)).ok).toBe(true);
    expect((await progressOf(a.ctx, c.id)).sent).toBe(N);
  });
});
