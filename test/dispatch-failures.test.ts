import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { campaignStatus, cancelCampaign, pauseCampaign, resumeCampaign, retryFailed, startSend, type CancelReport } from '../src/campaigns/lifecycle.ts';
import { listRecipients } from '../src/registry/index.ts';
import { progressOf, runUntilDone } from '../workers/run.ts';
import { startRenderWorker } from '../workers/render.ts';
import { startSendWorker } from '../workers/send.ts';
import { dispatchEnv, until, type DispatchEnv } from './dispatch.fixture.ts';
import type { Respond } from './helpers/smtp.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

/** One scenario: its own SMTP server (answering as told) and store, the shared Redis. */
async function scenario(opts: { respond?: Respond; respondAt?: 'rcpt' | 'data' } = {}) {
  const t: DispatchEnv = await dispatchEnv(redis.url, opts);
  const opened: OpenedContext = await openDispatchContext(t.cfg, { actor: 'test', mailer: true, log: () => {} });
  const { db, cfg } = opened.ctx;
  const all = (await listRecipients(db)).filter((r) => r.groups.includes('member-states'));
  return {
    t,
    opened,
    all,
    /** A campaign for the first n Member States, created by alice, approved by bob, dispatches enqueued. */
    async launch(n: number, include: string[] = []) {
      const ids = [...include, ...all.map((r) => r.id).filter((x) => !include.includes(x))].slice(0, n);
      const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: ids.join(','), replyBy: '2009-07-31', by: 'alice' });
      await approveCampaign(db, cfg, c.id, 'bob');
      await startSend(db, cfg, opened.ctx.queues, c.id, 'bob');
      return { id: c.id, ids };
    },
    async close() {
      await opened.close();
      await t.cleanup();
    },
  };
}

/** Received messages per dispatch id. */
function perDispatch(t: DispatchEnv): Map<string, number> {
  const m = new Map<string, number>();
  for (const msg of t.smtp.messages) {
    const k = msg.headers['x-chancery-dispatch']!;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

describe('failures', () => {
  it('451 on the first attempts: every message is delivered exactly once in the end', async () => {
    const s = await scenario({ respond: ({ attempt }) => (attempt <= 2 ? { code: 451, message: '4.7.1 Try again later' } : undefined) });
    try {
      const { id, ids } = await s.launch(20);
      const final = await runUntilDone(s.opened, id, { renderConcurrency: 4, sendConcurrency: 8 });
      expect(final).toMatchObject({ total: 20, sent: 20, failed: 0 });
      const counts = perDispatch(s.t);
      expect(counts.size).toBe(20);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
      const status = await campaignStatus(s.opened.ctx.db, id);
      expect(status.dispatches.map((d) => d.recipient_id)).toEqual([...ids].sort());
      // Three claims each: two refused with 451, the third accepted.
      expect(status.dispatches.every((d) => d.state === 'sent' && d.attempts === 3 && !d.possible_duplicate)).toBe(true);
      const deferred = await s.opened.ctx.db.selectFrom('events').select('data').where('campaign_id', '=', id).where('type', '=', 'dispatch.deferred').execute();
      expect(deferred).toHaveLength(40);
      expect(deferred.every((e) => JSON.parse(e.data).smtp_response.includes('Try again later'))).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('550 for one address fails that dispatch with the reply stored while the others arrive; retry --failed re-enqueues it', async () => {
    let refuse = true;
    const s = await scenario({
      respondAt: 'data',
      respond: ({ rcpt }) => (refuse && rcpt.some((a) => a.startsWith('mission.deu@')) ? { code: 550, message: '5.1.1 Mailbox unavailable' } : undefined),
    });
    try {
      const { id } = await s.launch(15, ['DEU']);
      const final = await runUntilDone(s.opened, id, { renderConcurrency: 4, sendConcurrency: 4 });
      expect(final).toMatchObject({ total: 15, sent: 14, failed: 1 });
      const status = await campaignStatus(s.opened.ctx.db, id);
      const deu = status.dispatches.find((d) => d.recipient_id === 'DEU')!;
      expect(deu.state).toBe('failed');
      expect(deu.attempts).toBe(1); // permanent: not retried
      expect(deu.error).toMatch(/550/);
      const row = await s.opened.ctx.db.selectFrom('dispatches').select(['smtp_response']).where('campaign_id', '=', id).where('recipient_id', '=', 'DEU').executeTakeFirstOrThrow();
      expect(row.smtp_response).toMatch(/Mailbox unavailable/);
      expect(s.t.smtp.messages.some((m) => m.to.some((a) => a.startsWith('mission.deu@')))).toBe(false);
      expect(perDispatch(s.t).size).toBe(14);
      expect(status.campaign.state).toBe('done');

      // The mailbox is fixed: retry --failed sends that one, and only that one.
      refuse = false;
      expect(await retryFailed(s.opened.ctx.db, s.opened.ctx.cfg, s.opened.ctx.queues, id, 'bob')).toEqual({ requeued: 1 });
      const after = await runUntilDone(s.opened, id, { renderConcurrency: 1, sendConcurrency: 2 });
      expect(after).toMatchObject({ sent: 15, failed: 0 });
      const counts = perDispatch(s.t);
      expect(counts.size).toBe(15);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('pause stops new sends; resume completes them, each exactly once', async () => {
    let pausing: Promise<unknown> | undefined;
    let campaignId = '';
    let s!: Awaited<ReturnType<typeof scenario>>;
    s = await scenario({
      respondAt: 'data',
      respond: () => {
        // The officer pauses while the 5th message is being accepted.
        if (s.t.smtp.messages.length === 4 && !pausing) pausing = pauseCampaign(s.opened.ctx.db, campaignId, 'alice', 'checking a complaint');
        return undefined;
      },
    });
    try {
      const { id } = await s.launch(40);
      campaignId = id;
      const { ctx, redis: handle } = s.opened;
      const workers = [startRenderWorker(ctx, handle, { concurrency: 2 }), startSendWorker(ctx, handle, { concurrency: 1 })];
      try {
        await until(() => pausing !== undefined, 60_000, () => 'the pause');
        await pausing;
        // Let the workers run dry: every job taken and let go, nothing in flight.
        await until(async () => {
          const [r, q] = await Promise.all([ctx.queues.render.getJobCounts('waiting', 'active', 'delayed'), ctx.queues.send.getJobCounts('waiting', 'active', 'delayed')]);
          const p = await progressOf(ctx, id);
          const sending = await ctx.db.selectFrom('dispatches').select('id').where('campaign_id', '=', id).where('state', '=', 'sending').execute();
          return Object.values(r).every((n) => n === 0) && Object.values(q).every((n) => n === 0) && sending.length === 0 && p.campaignState === 'paused';
        }, 60_000, () => 'the queues to drain');
        const paused = await progressOf(ctx, id);
        expect(paused.campaignState).toBe('paused');
        expect(paused.sent).toBeLessThan(40);
        expect(paused.sent).toBeGreaterThanOrEqual(5);
        // Nothing went out that is not recorded as sent.
        expect(s.t.smtp.messages).toHaveLength(paused.sent);

        const r = await resumeCampaign(ctx.db, ctx.cfg, ctx.queues, id, 'alice');
        expect(r.enqueued).toBe(40 - paused.sent);
        await until(async () => (await progressOf(ctx, id)).open === 0, 60_000, () => 'the campaign to finish');
      } finally {
        await Promise.all(workers.map((w) => w.close()));
      }
      const final = await progressOf(ctx, id);
      expect(final).toMatchObject({ total: 40, sent: 40, campaignState: 'done' });
      const counts = perDispatch(s.t);
      expect(counts.size).toBe(40);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
      const types = (await ctx.db.selectFrom('events').select('type').where('campaign_id', '=', id).where('dispatch_id', 'is', null).orderBy('id').execute()).map((e) => e.type);
      expect(types).toEqual(['campaign.created', 'campaign.approved', 'campaign.send-started', 'campaign.paused', 'campaign.resumed', 'campaign.completed']);
    } finally {
      await s.close();
    }
  });

  it('cancel stops what is not yet sent and reports what was sent', async () => {
    let cancelling: Promise<CancelReport> | undefined;
    let campaignId = '';
    let s!: Awaited<ReturnType<typeof scenario>>;
    s = await scenario({
      respondAt: 'data',
      respond: () => {
        if (s.t.smtp.messages.length === 3 && !cancelling) cancelling = cancelCampaign(s.opened.ctx.db, campaignId, 'alice');
        return undefined;
      },
    });
    try {
      const { id } = await s.launch(30);
      campaignId = id;
      const final = await runUntilDone(s.opened, id, { renderConcurrency: 2, sendConcurrency: 1 });
      const report = await cancelling!;
      expect(final.campaignState).toBe('cancelled');
      expect(final.open).toBe(0);
      expect(final.sent + final.cancelled).toBe(30);
      expect(final.cancelled).toBe(report.cancelled);
      // What was sent (or being sent) when cancelled is what arrived; nothing after.
      expect(final.sent).toBe(report.sent.length + report.inFlight.length);
      expect(s.t.smtp.messages).toHaveLength(final.sent);
      expect(final.sent).toBeLessThan(30);
      await expect(resumeCampaign(s.opened.ctx.db, s.opened.ctx.cfg, s.opened.ctx.queues, id, 'alice')).rejects.toThrow(/is cancelled, not paused/);
    } finally {
      await s.close();
    }
  });

  it('an SMTP authentication error pauses the campaign and says why', async () => {
    const s = await scenario({ respondAt: 'data', respond: () => ({ code: 535, message: '5.7.8 Authentication credentials invalid' }) });
    try {
      const { id } = await s.launch(3);
      const final = await runUntilDone(s.opened, id, { renderConcurrency: 2, sendConcurrency: 1 });
      expect(final.campaignState).toBe('paused');
      expect(final.reason).toMatch(/SMTP configuration error: .*535/);
      expect(final.failed).toBe(0);
      expect(s.t.smtp.messages).toHaveLength(0);
    } finally {
      await s.close();
    }
  });
});
