import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { exportCampaignPdfs } from '../src/campaigns/documents.ts';
import { startSend } from '../src/campaigns/lifecycle.ts';
import { runPreflight } from '../src/campaigns/preflight.ts';
import { getCampaign } from '../src/campaigns/repo.ts';
import { giveUpDispatch, processRender, processSend } from '../src/campaigns/process.ts';
import { batchJobIdFor, enqueueDispatches, jobIdFor, renderDispatchIds, type RenderPayload } from '../src/queue/queues.ts';
import { listRecipients } from '../src/registry/index.ts';
import { runUntilDone } from '../workers/run.ts';
import { dispatchEnv, type DispatchEnv } from './dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

/** Render jobs carry batches of letters (RENDER_BATCH_SIZE); send jobs stay one per government. */

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

let prefixes = 0;

/** A store, an SMTP server and queues of their own (a fresh queue prefix in the shared Redis). */
async function scenario(batchSize: number) {
  const t: DispatchEnv = await dispatchEnv(redis.url, { extra: { RENDER_BATCH_SIZE: String(batchSize), QUEUE_PREFIX: `{batch-${process.pid}-${++prefixes}}` } });
  const opened: OpenedContext = await openDispatchContext(t.cfg, { actor: 'test', mailer: true, log: () => {} });
  const { db, cfg } = opened.ctx;
  const members = (await listRecipients(db)).filter((r) => r.groups.includes('member-states')).map((r) => r.id);
  return {
    t,
    opened,
    /** A campaign for the first n Member States, approved and enqueued; its dispatches in recipient order. */
    async launch(n: number) {
      const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: members.slice(0, n).join(','), replyBy: '2009-07-31', by: 'alice' });
      await approveCampaign(db, cfg, c.id, 'bob');
      await startSend(db, cfg, opened.ctx.queues, c.id, 'bob');
      const rows = await db.selectFrom('dispatches').select(['id', 'state']).where('campaign_id', '=', c.id).orderBy('recipient_id').execute();
      return { id: c.id, dispatchIds: rows.map((r) => r.id) };
    },
    /** launch(n) with the render queue emptied: the test runs the steps itself, by hand. */
    async launchByHand(n: number) {
      const launched = await this.launch(n);
      await opened.ctx.queues.render.obliterate({ force: true });
      return launched;
    },
    async close() {
      await opened.close();
      await t.cleanup();
    },
  };
}

const job = { id: 'test-job', attemptsMade: 0, attempts: 3 };

describe('render batches', () => {
  it('10 letters at RENDER_BATCH_SIZE=4 go as render jobs of 4, 4 and 2; enqueuing again adds none; each government gets one message', async () => {
    const s = await scenario(4);
    try {
      const { id, dispatchIds } = await s.launch(10);
      const { queues } = s.opened.ctx;
      const waiting = await queues.render.getJobs(['waiting']);
      const batches = waiting.map((j) => renderDispatchIds(j.data as RenderPayload)).sort((a, b) => a[0]!.localeCompare(b[0]!));
      expect(batches).toEqual([dispatchIds.slice(0, 4), dispatchIds.slice(4, 8), dispatchIds.slice(8)]);
      expect(waiting.map((j) => j.id).sort()).toEqual(batches.map((b) => batchJobIdFor(b)).sort());

      // The same dispatches enqueued again in the same round: the same job ids, no new jobs.
      await enqueueDispatches(queues, 'render', dispatchIds.map((d) => ({ campaignId: id, dispatchId: d })), 1);
      expect(await queues.render.getJobCountByTypes('waiting')).toBe(3);

      const done = await runUntilDone(s.opened, id, { pollMs: 50 });
      expect(done).toMatchObject({ total: 10, sent: 10, failed: 0, open: 0 });
      const received = s.t.smtp.messages.map((m) => m.headers['x-chancery-dispatch']).sort();
      expect(received).toEqual([...dispatchIds].sort());
      // One send job per government, under the dispatch's own job id.
      const sendJobs = await queues.send.getJobs(['completed']);
      expect(sendJobs.map((j) => j.id).sort()).toEqual(dispatchIds.map((d) => jobIdFor(d)).sort());
    } finally {
      await s.close();
    }
  });

  it('a batch with letters in every state renders the open ones, hands the rendered ones to send once, and skips the rest', async () => {
    const s = await scenario(25);
    try {
      const { id, dispatchIds } = await s.launchByHand(5);
      const { ctx } = s.opened;
      const [cancelled, ...open] = dispatchIds as [string, ...string[]];
      await ctx.db.updateTable('dispatches').set({ state: 'cancelled' }).where('id', '=', cancelled).execute();
      const payload: RenderPayload = { campaignId: id, dispatchIds: [...dispatchIds, 'note-cnothere0000-XYZ'] };

      expect(await processRender(ctx, payload, job)).toEqual({ rendered: 4, 'skipped-done': 1, missing: 1 });
      const rows = await ctx.db.selectFrom('dispatches').selectAll().where('campaign_id', '=', id).orderBy('recipient_id').execute();
      expect(rows.map((r) => r.state)).toEqual(['cancelled', 'rendered', 'rendered', 'rendered', 'rendered']);
      // Each PDF is in the store with its record, and is the one whose hash was recorded.
      for (const r of rows.slice(1)) {
        const doc = await ctx.db.selectFrom('documents').select('bytes').where('dispatch_id', '=', r.id).executeTakeFirstOrThrow();
        expect(Buffer.from(doc.bytes).subarray(0, 5).toString()).toBe('%PDF-');
        expect(createHash('sha256').update(doc.bytes).digest('hex')).toBe(r.pdf_sha256);
        expect(r.pdf_path).toBeNull();
      }
      expect(await ctx.db.selectFrom('documents').select('dispatch_id').where('dispatch_id', '=', cancelled).executeTakeFirst()).toBeUndefined();
      const events = await ctx.db.selectFrom('events').select(['dispatch_id', 'data']).where('type', '=', 'dispatch.rendered').where('campaign_id', '=', id).execute();
      expect(events.map((e) => e.dispatch_id).sort()).toEqual([...open].sort());
      expect(events.every((e) => JSON.parse(e.data).job === 'test-job')).toBe(true);
      const sendIds = async () => (await ctx.queues.send.getJobs(['waiting'])).map((j) => j.id).sort();
      expect(await sendIds()).toEqual(open.map((d) => jobIdFor(d)).sort());

      // Delivered again (the worker died after recording): nothing rendered twice, no second send job.
      expect(await processRender(ctx, payload, job)).toEqual({ 'skipped-done': 5, missing: 1 });
      expect(await sendIds()).toEqual(open.map((d) => jobIdFor(d)).sort());
      expect(await ctx.db.selectFrom('events').select('id').where('type', '=', 'dispatch.rendered').where('campaign_id', '=', id).execute()).toHaveLength(4);
    } finally {
      await s.close();
    }
  });

  it('a PDF altered in the store after it was recorded is not sent: the dispatch fails, naming why', async () => {
    const s = await scenario(25);
    try {
      const { id, dispatchIds } = await s.launchByHand(2);
      const { ctx } = s.opened;
      expect(await processRender(ctx, { campaignId: id, dispatchIds }, job)).toEqual({ rendered: 2 });
      const [altered, intact] = dispatchIds as [string, string];
      const doc = await ctx.db.selectFrom('documents').select('bytes').where('dispatch_id', '=', altered).executeTakeFirstOrThrow();
      const bytes = Buffer.from(doc.bytes);
      bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 1, bytes.length - 10); // one bit, near the end
      await ctx.db.updateTable('documents').set({ bytes }).where('dispatch_id', '=', altered).execute();

      await expect(processSend(ctx, { campaignId: id, dispatchId: altered }, job)).rejects.toThrow(`send ${altered}: stored PDF does not match its recorded SHA-256`);
      expect(await processSend(ctx, { campaignId: id, dispatchId: intact }, job)).toBe('sent');
      const rows = await ctx.db.selectFrom('dispatches').select(['id', 'state', 'error']).where('campaign_id', '=', id).orderBy('id').execute();
      expect(rows.find((r) => r.id === altered)).toMatchObject({ state: 'failed', error: 'stored PDF does not match its recorded SHA-256' });
      expect(rows.find((r) => r.id === intact)).toMatchObject({ state: 'sent' });
      expect(s.t.smtp.messages.map((m) => m.headers['x-chancery-dispatch'])).toEqual([intact]);

      // The export refuses it too, by name, after writing the letters before it.
      const dir = path.join(s.t.home, 'pdfs');
      await expect(exportCampaignPdfs(ctx.db, s.t.home, id, dir)).rejects.toThrow(`dispatch ${altered}: the stored PDF does not match its recorded SHA-256`);
    } finally {
      await s.close();
    }
  });

  it('a letter rendered before the PDFs moved into the store (a file, pdf_path) is still sent and exported from its file', async () => {
    const s = await scenario(25);
    try {
      const { id, dispatchIds } = await s.launchByHand(1);
      const [d] = dispatchIds as [string];
      const { ctx } = s.opened;
      expect(await processRender(ctx, { campaignId: id, dispatchIds }, job)).toEqual({ rendered: 1 });
      // As a store written before migration 0006 has it: the PDF in a file, no documents row.
      const doc = await ctx.db.selectFrom('documents').select('bytes').where('dispatch_id', '=', d).executeTakeFirstOrThrow();
      const rel = `documents/${id}/${d}.pdf`;
      fs.mkdirSync(path.join(s.t.home, 'documents', id), { recursive: true });
      fs.writeFileSync(path.join(s.t.home, rel), doc.bytes);
      await ctx.db.deleteFrom('documents').where('dispatch_id', '=', d).execute();
      await ctx.db.updateTable('dispatches').set({ pdf_path: rel }).where('id', '=', d).execute();

      expect(await processSend(ctx, { campaignId: id, dispatchId: d }, job)).toBe('sent');
      const [m] = s.t.smtp.messages;
      expect(m?.attachments[0]?.content.equals(Buffer.from(doc.bytes))).toBe(true);
      const dir = path.join(s.t.home, 'pdfs');
      expect(await exportCampaignPdfs(ctx.db, s.t.home, id, dir)).toEqual({ count: 1 });
      expect(fs.readFileSync(path.join(dir, `${d}.pdf`)).equals(Buffer.from(doc.bytes))).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('a batch lets the event loop turn between letters, so lock renewals of other jobs in the process go on', async () => {
    const s = await scenario(25);
    try {
      const { id, dispatchIds } = await s.launchByHand(10);
      const { ctx } = s.opened;
      // A 1 ms interval fires only when the event loop reaches its timers: the store answers
      // synchronously, so without a turn between letters the whole batch is one task and it
      // would not fire at all while the batch runs.
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      try {
        expect(await processRender(ctx, { campaignId: id, dispatchIds }, job)).toEqual({ rendered: 10 });
      } finally {
        clearInterval(timer);
      }
      expect(ticks).toBeGreaterThanOrEqual(5);
    } finally {
      await s.close();
    }
  });

  it('when BullMQ gives up on a render batch, only its letters not yet rendered are marked failed', async () => {
    const s = await scenario(25);
    try {
      const { id, dispatchIds } = await s.launchByHand(4);
      const { ctx } = s.opened;
      const [first, second, ...rest] = dispatchIds as [string, string, ...string[]];
      await processRender(ctx, { campaignId: id, dispatchIds: [first, second] }, job);

      await giveUpDispatch(ctx, { campaignId: id, dispatchIds }, 'job stalled more than allowable limit', 'render');
      const rows = await ctx.db.selectFrom('dispatches').select(['id', 'state', 'error']).where('campaign_id', '=', id).orderBy('recipient_id').execute();
      expect(rows.map((r) => r.state)).toEqual(['rendered', 'rendered', 'failed', 'failed']);
      for (const r of rows.filter((r) => rest.includes(r.id))) expect(r.error).toBe('worker gave up: job stalled more than allowable limit');
    } finally {
      await s.close();
    }
  });
});

describe('preflight', () => {
  it('lets the event loop turn between letters (a web console or workers in the same process keep going)', async () => {
    const s = await scenario(25);
    try {
      const { id } = await s.launch(20);
      const { db, cfg } = s.opened.ctx;
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      let result;
      try {
        result = await runPreflight(db, cfg, await getCampaign(db, id));
      } finally {
        clearInterval(timer);
      }
      expect(result).toMatchObject({ gaps: [], rendered: 20 });
      expect(ticks).toBeGreaterThanOrEqual(10);
    } finally {
      await s.close();
    }
  });
});
