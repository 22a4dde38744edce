import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { cancelCampaign, startSend } from '../src/campaigns/lifecycle.ts';
import { parseInstant, setClock, storeClock } from '../src/clock.ts';
import { sweepNow } from '../src/deadlines/drive.ts';
import { ingestReplies } from '../src/deadlines/ingest.ts';
import { openRemindQueue, reminderJobId } from '../src/campaigns/reminder-jobs.ts';
import { listReminderRounds } from '../src/deadlines/jobs.ts';
import { prepareSampleReplies } from '../src/deadlines/samples.ts';
import { recordReply } from '../src/deadlines/replies.ts';
import { importRecipients, parseRegistryFile } from '../src/registry/index.ts';
import { runUntilDone } from '../workers/run.ts';
import { cli, dispatchEnv, type DispatchEnv } from './dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

/**
 * `reply ingest` with the sample replies of seeds/replies: matched by In-Reply-To (note and
 * reminder), by reference + sender address, by reference + domain; one unmatched, then assigned;
 * ingesting again records nothing.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
let redis: TestRedis;
let t: DispatchEnv;
let opened: OpenedContext;
let id: string;
let dir: string;

beforeAll(async () => {
  redis = await startRedisServer();
  t = await dispatchEnv(redis.url);
  opened = await openDispatchContext(t.cfg, { actor: 'test', mailer: true });
  const db = opened.ctx.db;
  // Austria with a domain of its own (in registry.json every recipient shares example.org).
  await importRecipients(db, await parseRegistryFile(path.join(ROOT, 'seeds', 'replies', 'registry-aut-own-domain.json')));
  await setClock(db, parseInstant('2009-07-08T10:00', 'Europe/Vienna'), 'test');
  const c = await createCampaign(db, t.cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'AUT,CIV,DEU,FRA,GBR,NLD', replyBy: '2009-07-31', remind: '14', by: 'alice' });
  id = c.id;
  await approveCampaign(db, t.cfg, id, 'bob');
  await startSend(db, t.cfg, opened.ctx.queues, id, 'bob');
  expect((await runUntilDone(opened, id)).sent).toBe(6);
  await setClock(db, parseInstant('2009-07-30T12:00', 'Europe/Vienna'), 'test');
  dir = path.join(t.home, 'inbox');
  prepareSampleReplies(path.join(ROOT, 'seeds', 'replies'), dir, { campaignId: id, messageIdDomain: t.cfg.MESSAGE_ID_DOMAIN });
});
afterAll(async () => {
  await opened?.close();
  await t?.cleanup();
  await redis?.stop();
});

describe('reply ingest of the sample replies', () => {
  it('matches by In-Reply-To, by reference + address and by reference + domain, lists the unmatched one', async () => {
    const r = await cli(t.env, ['reply', 'ingest', dir, '--by', 'registry-clerk']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`matched    01-fra-in-reply-to.eml: FRA to ${id} (in-reply-to)`);
    expect(r.stdout).toContain(`matched    02-gbr-in-reply-to-with-pdf.eml: GBR to ${id} (in-reply-to)`);
    expect(r.stdout).toContain(`matched    03-deu-reference-and-address.eml: DEU to ${id} (reference+address)`);
    expect(r.stdout).toMatch(/unmatched  04-civ-unmatched\.eml: CU 2009\/92 \(A\): sender k\.ouattara@example\.org is no registered address, and its domain is shared by 5 recipients; assign with: chancery reply assign \S+04-civ-unmatched\.eml CAMPAIGN RID/);
    // Its In-Reply-To names a reminder this campaign never sent; References still name the note.
    expect(r.stdout).toContain(`matched    05-nld-reply-to-reminder.eml: NLD to ${id} (in-reply-to)`);
    expect(r.stdout).toContain(`matched    06-aut-reference-and-domain.eml: AUT to ${id} (reference+domain)`);
    expect(r.stdout).toMatch(/6 file\(s\): 5 matched, 1 unmatched, 0 to review, 0 already ingested/);

    const db = opened.ctx.db;
    const replies = await db.selectFrom('replies').selectAll().where('campaign_id', '=', id).orderBy('recipient_id').execute();
    expect(replies.map((x) => [x.recipient_id, x.received_on, x.channel, x.source, x.match_method])).toEqual([
      ['AUT', '2009-07-29', 'email', 'ingest', 'reference+domain'],
      ['DEU', '2009-07-24', 'email', 'ingest', 'reference+address'],
      ['FRA', '2009-07-20', 'email', 'ingest', 'in-reply-to'],
      ['GBR', '2009-07-22', 'email', 'ingest', 'in-reply-to'],
      ['NLD', '2009-07-23', 'email', 'ingest', 'in-reply-to'],
    ]);
    const fra = replies.find((x) => x.recipient_id === 'FRA')!;
    expect(fra.their_reference).toBe('457/2009');
    // The .eml itself is kept, hashed, with the SHA-256 that makes re-ingest a no-op.
    const raw = fs.readFileSync(path.join(dir, '01-fra-in-reply-to.eml'));
    expect(fra.file_sha256).toBe(createHash('sha256').update(raw).digest('hex'));
    expect(fra.source_sha256).toBe(fra.file_sha256);
    expect(fs.readFileSync(path.join(t.home, fra.file_path!))).toEqual(raw);

    // The United Kingdom's PDF is stored and hashed.
    const gbr = replies.find((x) => x.recipient_id === 'GBR')!;
    const files = await db.selectFrom('reply_files').selectAll().where('reply_id', '=', gbr.id).orderBy('id').execute();
    expect(files.map((f) => [f.role, f.filename])).toEqual([
      ['message', '02-gbr-in-reply-to-with-pdf.eml'],
      ['attachment', 'UK-Note-118-2009.pdf'],
    ]);
    const pdf = fs.readFileSync(path.join(t.home, files[1]!.path));
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(files[1]!.sha256).toBe(createHash('sha256').update(pdf).digest('hex'));
    expect(files[1]!.path.startsWith(`replies/${id}/GBR/`)).toBe(true);
  });

  it('ingesting the same files again records nothing', async () => {
    const db = opened.ctx.db;
    const count = async (table: 'replies' | 'events' | 'ingested_emails' | 'reply_files') => Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const before = { replies: await count('replies'), events: await count('events'), emails: await count('ingested_emails'), files: await count('reply_files') };
    const again = await ingestReplies(db, t.cfg, storeClock(db), dir, { by: 'registry-clerk' });
    expect(again.map((i) => i.outcome)).toEqual(Array(6).fill('already-ingested'));
    expect({ replies: await count('replies'), events: await count('events'), emails: await count('ingested_emails'), files: await count('reply_files') }).toEqual(before);
    // A copy of an already ingested e-mail under another name: same Message-ID, nothing new either.
    const copy = path.join(t.home, 'inbox2');
    fs.mkdirSync(copy);
    fs.writeFileSync(path.join(copy, 'fra-again.eml'), `X-Saved-By: Outlook\n${fs.readFileSync(path.join(dir, '01-fra-in-reply-to.eml'), 'utf8')}`);
    const dup = await ingestReplies(db, t.cfg, storeClock(db), copy, { by: 'registry-clerk' });
    expect(dup).toMatchObject([{ outcome: 'already-ingested', reason: 'same Message-ID as 01-fra-in-reply-to.eml (matched)' }]);
    expect(await count('replies')).toBe(before.replies);
  });

  it('the unmatched e-mail is listed, then assigned to Côte d’Ivoire; a reply by hand for France is refused', async () => {
    const listed = await cli(t.env, ['reply', 'unmatched']);
    expect(listed.stdout).toMatch(/04-civ-unmatched\.eml {2}from k\.ouattara@example\.org/);
    expect(listed.stdout).toMatch(/1 e-mail\(s\) to assign/);
    const file = path.join(dir, '04-civ-unmatched.eml');
    const a = await cli(t.env, ['reply', 'assign', file, id, 'CIV', '--by', 'carol']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/reply of CIV to c\w+ recorded from 04-civ-unmatched\.eml: received 2009-07-28/);
    const civ = await opened.ctx.db.selectFrom('replies').selectAll().where('campaign_id', '=', id).where('recipient_id', '=', 'CIV').executeTakeFirstOrThrow();
    expect(civ).toMatchObject({ source: 'ingest', match_method: 'assigned', logged_by: 'carol', channel: 'email' });
    expect((await cli(t.env, ['reply', 'unmatched'])).stdout).toMatch(/^0 e-mail\(s\) to assign/m);
    // Assigning it twice is refused.
    const twice = await cli(t.env, ['reply', 'assign', file, id, 'CIV']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/is already recorded as the reply of CIV/);
    await expect(recordReply(opened.ctx.db, t.cfg, storeClock(opened.ctx.db), { campaignId: id, recipientId: 'FRA', by: 'carol' })).rejects.toThrow(
      /a reply from FRA is already on record \(received 2009-07-20 by email\); use --replace/,
    );
  });

  it('cancelling the campaign, sent in full, cancels its pending reminder round and its job', async () => {
    const db = opened.ctx.db;
    const [b14] = await listReminderRounds(db, id);
    expect(b14).toMatchObject({ key: 'b14', state: 'scheduled' });
    const r = await cancelCampaign(db, id, 'bob');
    expect(r.sent).toHaveLength(6);
    expect((await listReminderRounds(db, id))[0]).toMatchObject({ state: 'cancelled', state_reason: 'campaign cancelled' });
    expect((await sweepNow(opened)).removed).toBe(1);
    const q = openRemindQueue(t.cfg, opened.ctx.queues.connection);
    try {
      expect(await q.getJob(reminderJobId(b14!))).toBeUndefined();
    } finally {
      await q.close();
    }
  });
});
