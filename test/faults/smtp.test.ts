import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../../src/campaigns/context.ts';
import { createCampaign } from '../../src/campaigns/create.ts';
import { startSend } from '../../src/campaigns/lifecycle.ts';
import { listRecipients } from '../../src/registry/index.ts';
import { runUntilDone } from '../../workers/run.ts';
import { until } from '../dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from '../helpers/redis.ts';
import { faultEnv, outcome, writeReport, type FaultEnv } from './env.ts';
import { startFaultSmtp, type FaultSmtp } from './fault-smtp.ts';

/** The relay misbehaves: down for a while, 421/451 for a spell, silent in the middle of DATA. */

let redis: TestRedis;
const report: Record<string, unknown> = {};
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  writeReport('smtp', report);
  await redis?.stop();
});

type Scenario = { smtp: FaultSmtp; t: FaultEnv; opened: OpenedContext; id: string; ids: string[]; close(): Promise<void> };

/** A campaign to the first n Member States, approved and enqueued; the workers run in this process. */
async function scenario(n: number, query?: string): Promise<Scenario> {
  const smtp = await startFaultSmtp({ query });
  const t = faultEnv({ redisUrl: redis.url, smtpUrl: smtp.urls[0], extra: { QUEUE_PREFIX: `{f${Math.random().toString(36).slice(2, 8)}}` } });
  const opened = await openDispatchContext(t.cfg, { actor: 'test', mailer: true, log: () => {} });
  const { db, cfg, queues } = opened.ctx;
  const ids = (await listRecipients(db)).filter((r) => r.groups.includes('member-states')).slice(0, n).map((r) => r.id);
  const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: ids.join(','), replyBy: '2009-07-31', by: 'alice' });
  await approveCampaign(db, cfg, c.id, 'bob');
  return {
    smtp,
    t,
    opened,
    id: c.id,
    ids,
    async close() {
      await opened.close();
      await smtp.stop();
      t.cleanup();
    },
  };
}

async function events(s: Scenario, type: string): Promise<Record<string, unknown>[]> {
  const rows = await s.opened.ctx.db.selectFrom('events').select(['data', 'dispatch_id']).where('campaign_id', '=', s.id).where('type', '=', type).execute();
  return rows.map((r) => ({ ...(JSON.parse(r.data) as Record<string, unknown>), dispatch_id: r.dispatch_id }));
}

describe('SMTP faults', () => {
  it('down for a while, then back: retried with backoff, every note delivered exactly once, none flagged', async () => {
    const s = await scenario(20);
    try {
      await s.smtp.down();
      await startSend(s.opened.ctx.db, s.opened.ctx.cfg, s.opened.ctx.queues, s.id, 'bob');
      const run = runUntilDone(s.opened, s.id, { renderConcurrency: 2, sendConcurrency: 8, pollMs: 100 });
      // Every dispatch refused at least twice (connection refused) before the relay comes back:
      // counted from the deferred events, not the attempts, since an attempt is counted at its
      // claim, before its connection is refused (one claimed just before up() is delivered).
      await until(async () => {
        const refused = await events(s, 'dispatch.deferred');
        const perDispatch = new Map<string, number>();
        for (const e of refused) perDispatch.set(String(e.dispatch_id), (perDispatch.get(String(e.dispatch_id)) ?? 0) + 1);
        return perDispatch.size === 20 && [...perDispatch.values()].every((n) => n >= 2);
      }, 120_000, () => 'two refused attempts per dispatch');
      await s.smtp.up();
      const final = await run;
      const o = await outcome(s.opened.ctx.db, s.id, s.smtp.received);
      const deferred = await events(s, 'dispatch.deferred');
      const rows = await s.opened.ctx.db.selectFrom('dispatches').select(['attempts']).where('campaign_id', '=', s.id).execute();
      report.down = { dispatches: o.dispatches, delivered: s.smtp.received.length, lost: o.lost.length, duplicates: o.receivedTwice, flagged: o.flaggedInStore, deferredAttempts: deferred.length, maxAttempts: Math.max(...rows.map((r) => r.attempts)) };
      expect(final).toMatchObject({ total: 20, sent: 20, failed: 0, campaignState: 'done' });
      expect(o.lost).toEqual([]);
      expect(s.smtp.received).toHaveLength(20); // exactly once each
      expect(o.flaggedInStore).toBe(0); // a refused connection is certainly not a delivery
      expect(deferred.length).toBeGreaterThanOrEqual(40);
      expect(deferred.every((e) => e.delivered === 'no')).toBe(true);
      // Backoff: attempt numbers climb per dispatch (BullMQ's exponential delay between them).
      expect(Math.max(...deferred.map((e) => Number(e.attempt)))).toBeGreaterThanOrEqual(2);
      expect(o.auditOk).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('421 and 451 for a spell: retried, every note delivered exactly once, none flagged', async () => {
    const s = await scenario(20);
    try {
      // The first 30 messages are refused, alternately 421 (closing) and 451 (try later).
      s.smtp.decide = ({ seq }) => (seq <= 30 ? (seq % 2 ? { kind: 'refuse', code: 421, message: '4.3.2 Service shutting down, try later' } : { kind: 'refuse', code: 451, message: '4.7.1 Greylisted, try later' }) : { kind: 'accept' });
      await startSend(s.opened.ctx.db, s.opened.ctx.cfg, s.opened.ctx.queues, s.id, 'bob');
      const final = await runUntilDone(s.opened, s.id, { renderConcurrency: 2, sendConcurrency: 8, pollMs: 100 });
      const o = await outcome(s.opened.ctx.db, s.id, s.smtp.received);
      const deferred = await events(s, 'dispatch.deferred');
      report.refusals = { dispatches: o.dispatches, refused: s.smtp.dataAttempts.filter((a) => a.action === 'refuse').length, delivered: s.smtp.received.length, lost: o.lost.length, duplicates: o.receivedTwice, flagged: o.flaggedInStore };
      expect(final).toMatchObject({ total: 20, sent: 20, failed: 0, campaignState: 'done' });
      expect(o.lost).toEqual([]);
      expect(s.smtp.received).toHaveLength(20);
      expect(o.flaggedInStore).toBe(0);
      expect(deferred).toHaveLength(30);
      const replies = deferred.map((e) => String(e.smtp_response));
      expect(replies.some((r) => r.startsWith('421'))).toBe(true);
      expect(replies.some((r) => r.startsWith('451'))).toBe(true);
      expect(o.auditOk).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('no answer in the middle of DATA until the socket timeout: resent under the same Message-ID and flagged', async () => {
    const s = await scenario(12, 'socketTimeout=1500');
    try {
      const silent = new Set(s.ids.slice(0, 3).map((rid) => `note-${s.id}-${rid}`));
      // The server takes these three messages the first time and never answers.
      s.smtp.decide = ({ dispatchId, attempt }) => (silent.has(dispatchId) && attempt === 1 ? { kind: 'hang' } : { kind: 'accept' });
      await startSend(s.opened.ctx.db, s.opened.ctx.cfg, s.opened.ctx.queues, s.id, 'bob');
      const final = await runUntilDone(s.opened, s.id, { renderConcurrency: 2, sendConcurrency: 8, pollMs: 100 });
      const o = await outcome(s.opened.ctx.db, s.id, s.smtp.received);
      const rows = await s.opened.ctx.db.selectFrom('dispatches').select(['id', 'possible_duplicate']).where('campaign_id', '=', s.id).execute();
      report.dataTimeout = { dispatches: o.dispatches, timedOut: silent.size, lost: o.lost.length, duplicates: o.receivedTwice, duplicatesSharingMessageId: o.sameMessageId, duplicatesFlagged: o.flagged, flagged: o.flaggedInStore };
      expect(final).toMatchObject({ total: 12, sent: 12, failed: 0, campaignState: 'done' });
      expect(o.lost).toEqual([]);
      expect(o.receivedTwice).toBe(3);
      expect(o.unflaggedDuplicates).toEqual([]);
      expect(o.sameMessageId).toBe(3);
      expect(rows.filter((r) => r.possible_duplicate === 1).map((r) => r.id).sort()).toEqual([...silent].sort());
      expect(o.auditOk).toBe(true);
    } finally {
      await s.close();
    }
  });
});
