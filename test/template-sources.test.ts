import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalFingerprint, approveCampaign, checkApproval, type ApprovalDetail } from '../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { resumeCampaign, startSend } from '../src/campaigns/lifecycle.ts';
import { processRender } from '../src/campaigns/process.ts';
import { getCampaign } from '../src/campaigns/repo.ts';
import { loadConfig, type Config } from '../src/config.ts';
import type { Db } from '../src/store/db.ts';
import { canonicalJson } from '../src/store/events.ts';
import { copyOfStore, freshStoreEnv } from './helpers/engines.ts';
import { pdfText } from './helpers/pdf.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

/**
 * The approved template texts travel in the store (template_sources): written at approval,
 * carried by `store copy`, and what the render step renders, whatever the templates folder holds
 * by then. Whether the folder changed since is the operator's check (send, resume).
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const ADDED = 'Une phrase ajoutée après approbation.';
const norm = (s: string) => s.replace(/\s+/g, ' ');

let redis: TestRedis;
let tmp: string;
let opened: OpenedContext;
let db: Db;
let cfg: Config;

/** A copy of the repository's templates in a folder of its own, for a test to edit. */
function templatesCopy(): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'templates-'));
  for (const f of fs.readdirSync(path.join(ROOT, 'templates'))) if (f.endsWith('.md')) fs.copyFileSync(path.join(ROOT, 'templates', f), path.join(dir, f));
  return dir;
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Runs the render step on every open dispatch of the campaign, as a worker whose templates folder is `templates`. */
async function render(campaignId: string, templates: string) {
  const rows = await db.selectFrom('dispatches').select('id').where('campaign_id', '=', campaignId).where('state', 'in', ['pending', 'queued']).orderBy('id').execute();
  const ctx = { ...opened.ctx, cfg: { ...cfg, paths: { ...cfg.paths, templates } } };
  return processRender(ctx, { campaignId, dispatchIds: rows.map((r) => r.id) }, { id: `test-${campaignId}`, attemptsMade: 0, attempts: 1 });
}

async function letterText(campaignId: string, recipient: string): Promise<string> {
  const d = await db.selectFrom('dispatches').select('id').where('campaign_id', '=', campaignId).where('recipient_id', '=', recipient).executeTakeFirstOrThrow();
  const doc = await db.selectFrom('documents').select('bytes').where('dispatch_id', '=', d.id).executeTakeFirstOrThrow();
  return norm(await pdfText(Buffer.from(doc.bytes)));
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-tplsrc-'));
  redis = await startRedisServer();
  cfg = loadConfig({
    CHANCERY_HOME: path.join(tmp, 'home'),
    CHANCERY_TEMPLATES: templatesCopy(),
    CHANCERY_REGISTRY: path.join(ROOT, 'seeds', 'registry.json'),
    REDIS_URL: redis.url,
    ...(await freshStoreEnv()),
  });
  opened = await openDispatchContext(cfg, { actor: 'test' });
  db = opened.ctx.db;
});

afterAll(async () => {
  await opened?.close();
  await redis?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('approved template texts in the store', () => {
  it('are stored at approval (the note and its reminder template, every language), once however often approved, and carried by store copy', async () => {
    const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'FRA,GBR', replyBy: '2009-07-31', remind: '14,3', by: 'alice' });
    await approveCampaign(db, cfg, c.id, 'bob');
    await approveCampaign(db, cfg, c.id, 'carol');
    const files = ['cu-2009-92.en.md', 'cu-2009-92.fr.md', 'cu-2009-92-reminder.en.md', 'cu-2009-92-reminder.fr.md'];
    const rows = await db.selectFrom('template_sources').select(['sha256', 'template_id', 'language', 'source']).orderBy('template_id').orderBy('language').execute();
    expect(rows).toEqual(
      files.map((f) => {
        const [template_id, language] = f.split('.') as [string, string];
        const file = path.join(cfg.paths.templates, f);
        return { sha256: sha(file), template_id, language, source: fs.readFileSync(file, 'utf8') };
      }),
    );
    const approved = await db.selectFrom('campaigns').select('approval_detail').where('id', '=', c.id).executeTakeFirstOrThrow();
    expect(JSON.parse(approved.approval_detail!).reminder_templates).toEqual({ en: sha(path.join(cfg.paths.templates, files[2]!)), fr: sha(path.join(cfg.paths.templates, files[3]!)) });

    // The approval covers the reminder template: edited on disk, the operator is told before sending.
    const reminderFr = path.join(cfg.paths.templates, files[3]!);
    const shipped = fs.readFileSync(reminderFr);
    fs.appendFileSync(reminderFr, `\n${ADDED}\n`);
    const campaign = await getCampaign(db, c.id);
    await expect(checkApproval(db, cfg, campaign)).rejects.toThrow(`campaign ${c.id} needs approval again: template cu-2009-92-reminder.fr changed`);
    fs.writeFileSync(reminderFr, shipped);
    await checkApproval(db, cfg, campaign);

    const copy = await copyOfStore(db, path.join(tmp, 'copy'));
    try {
      expect(await copy.db.selectFrom('template_sources').selectAll().orderBy('sha256').execute()).toEqual(await db.selectFrom('template_sources').selectAll().orderBy('sha256').execute());
    } finally {
      await copy.db.destroy();
    }
  });

  it('an approval recorded before approvals covered the reminder template still holds', async () => {
    const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'FRA', replyBy: '2009-07-31', remind: '14', by: 'alice' });
    await approveCampaign(db, cfg, c.id, 'bob');
    const { reminder_templates, ...older } = JSON.parse((await getCampaign(db, c.id)).approval_detail!) as ApprovalDetail;
    expect(reminder_templates).toBeDefined();
    await db.updateTable('campaigns').set({ approval_detail: canonicalJson(older), approval_fingerprint: approvalFingerprint(older) }).where('id', '=', c.id).execute();
    await expect(checkApproval(db, cfg, await getCampaign(db, c.id))).resolves.toBeDefined();
  });

  it('a worker renders the approved text: an edit on disk after the send changes no letter, and an empty templates folder is enough', async () => {
    const dir = templatesCopy();
    const local = { ...cfg, paths: { ...cfg.paths, templates: dir } };
    const c = await createCampaign(db, local, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'FRA,BEL,GBR', replyBy: '2009-07-31', by: 'alice' });
    await approveCampaign(db, local, c.id, 'bob');
    const approvedFr = sha(path.join(dir, 'cu-2009-92.fr.md'));
    await startSend(db, local, opened.ctx.queues, c.id, 'bob');
    // After the operator's check, the French text is edited on the operator's disk.
    fs.appendFileSync(path.join(dir, 'cu-2009-92.fr.md'), `\n${ADDED}\n`);

    // FRA from the edited folder, BEL and GBR from an empty one: all three as approved.
    const fra = await db.selectFrom('dispatches').select('id').where('campaign_id', '=', c.id).where('recipient_id', '=', 'FRA').executeTakeFirstOrThrow();
    const one = await processRender({ ...opened.ctx, cfg: local }, { campaignId: c.id, dispatchId: fra.id }, { id: 'test-fra', attemptsMade: 0, attempts: 1 });
    expect(one).toEqual({ rendered: 1 });
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    expect(await render(c.id, empty)).toEqual({ rendered: 2 });
    expect(fs.readdirSync(empty)).toEqual([]);

    const campaign = await db.selectFrom('campaigns').select(['state', 'state_reason']).where('id', '=', c.id).executeTakeFirstOrThrow();
    expect(campaign).toEqual({ state: 'sending', state_reason: null });
    const rows = await db.selectFrom('dispatches').select(['recipient_id', 'state', 'template_sha256']).where('campaign_id', '=', c.id).orderBy('recipient_id').execute();
    expect(rows.map((r) => [r.recipient_id, r.state])).toEqual([['BEL', 'rendered'], ['FRA', 'rendered'], ['GBR', 'rendered']]);
    expect(rows.find((r) => r.recipient_id === 'FRA')!.template_sha256).toBe(approvedFr);
    expect(await letterText(c.id, 'FRA')).not.toContain(ADDED);
    expect(await letterText(c.id, 'FRA')).toContain('CU 2009/92');
  });

  it('approved before the store kept the texts: the file is used if it still has the approved hash, else the campaign pauses, one line', async () => {
    const dir = templatesCopy();
    const file = path.join(dir, 'cu-2009-92.en.md');
    // A text of its own, so that no earlier test has it parsed in this process already.
    fs.appendFileSync(file, '\nA sentence of this test only.\n');
    const original = fs.readFileSync(file);
    const local = { ...cfg, paths: { ...cfg.paths, templates: dir } };
    const c = await createCampaign(db, local, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'GBR,USA', replyBy: '2009-07-31', by: 'alice' });
    await approveCampaign(db, local, c.id, 'bob');
    await db.deleteFrom('template_sources').where('sha256', '=', sha(file)).execute();
    await startSend(db, local, opened.ctx.queues, c.id, 'bob');

    fs.appendFileSync(file, 'Edited after approval.\n');
    expect(await render(c.id, dir)).toEqual({ 'paused-campaign': 1 });
    expect(await db.selectFrom('campaigns').select(['state', 'state_reason']).where('id', '=', c.id).executeTakeFirstOrThrow()).toEqual({
      state: 'paused',
      state_reason: 'needs approval again: template cu-2009-92.en changed since approval (its approved text is not in the store)',
    });

    fs.writeFileSync(file, original);
    await resumeCampaign(db, local, opened.ctx.queues, c.id, 'bob');
    expect(await render(c.id, dir)).toEqual({ rendered: 2 });
    expect(await letterText(c.id, 'GBR')).toContain('A sentence of this test only.');
  });
});
