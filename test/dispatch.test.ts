import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { campaignStatus, cancelCampaign, startSend } from '../src/campaigns/lifecycle.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { importRecipients, listRecipients, type Recipient } from '../src/registry/index.ts';
import { openStore } from '../src/store/db.ts';
import { eventHash, GENESIS_HASH } from '../src/store/events.ts';
import { dispatchIdFor, encodeIdPart, jobIdFor } from '../src/queue/queues.ts';
import { cli, dispatchEnv, lastLine, type DispatchEnv } from './dispatch.fixture.ts';
import { pdfText } from './helpers/pdf.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

let redis: TestRedis;
let t: DispatchEnv;
let opened: OpenedContext;

beforeAll(async () => {
  redis = await startRedisServer();
  t = await dispatchEnv(redis.url);
  opened = await openDispatchContext(t.cfg, { actor: 'test' });
});
afterAll(async () => {
  await opened?.close();
  await t?.cleanup();
  await redis?.stop();
});

const norm = (s: string) => s.replace(/\s+/g, ' ');

describe('campaign CU 2009/92 (A) to all 193 Member States', () => {
  let id: string;

  it('is created, refused to its creator, approved by a second person, and sent: once per recipient, each with its own PDF', async () => {
    const created = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/92 (A)', '--audience', 'group:member-states', '--reply-by', '2009-07-31', '--remind', '14,3', '--by', 'alice']);
    expect(created.code, created.stderr).toBe(0);
    id = lastLine(created.stdout);
    expect(id).toMatch(/^c[0-9a-z]{10}$/);

    const self = await cli(t.env, ['campaign', 'approve', id, '--by', 'alice']);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/approver must be someone other than its creator \(alice\)/);

    await expect(startSend(opened.ctx.db, t.cfg, opened.ctx.queues, id, 'alice')).rejects.toThrow(/is not approved/);

    const approved = await cli(t.env, ['campaign', 'approve', id, '--by', 'bob']);
    expect(approved.code, approved.stderr).toBe(0);

    const sent = await cli(t.env, ['campaign', 'send', id, '--render-concurrency', '4', '--send-concurrency', '16']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/193 sent, 0 failed, 0 cancelled of 193; campaign done/);

    const db = await openStore(t.cfg);
    try {
      const recipients = new Map((await listRecipients(db)).map((r) => [r.id, r]));
      expect(recipients.size).toBe(193);
      const rows = await db.selectFrom('dispatches').selectAll().where('campaign_id', '=', id).execute();
      expect(rows).toHaveLength(193);
      expect(rows.every((r) => r.state === 'sent' && r.possible_duplicate === 0 && r.attempts === 1)).toBe(true);

      // Exactly one message per recipient, keyed by the dispatch header.
      const msgs = t.smtp.messages;
      expect(msgs).toHaveLength(193);
      const byDispatch = new Map(msgs.map((m) => [m.headers['x-chancery-dispatch'], m]));
      expect(byDispatch.size).toBe(193);

      for (const row of rows) {
        const m = byDispatch.get(row.id)!;
        const r = recipients.get(row.recipient_id)!;
        expect(m, row.id).toBeDefined();
        expect(m.messageId).toBe(row.message_id);
        expect(m.to).toEqual(r.email.to);
        expect(m.cc).toEqual(r.email.cc);
        expect(m.headers['x-chancery-reference']).toBe('CU 2009/92 (A)');
        expect(m.subject.startsWith('CU 2009/92 (A) — ')).toBe(true);
        expect(m.attachments).toHaveLength(1);
        const att = m.attachments[0]!;
        expect(att.filename).toBe(`CU-2009-92-A_${r.id}.pdf`);
        expect(att.mimeType).toBe('application/pdf');
        // The PDF that went out is the one recorded and kept.
        const sha = createHash('sha256').update(att.content).digest('hex');
        expect(sha).toBe(row.pdf_sha256);
        const stored = await db.selectFrom('documents').select('bytes').where('dispatch_id', '=', row.id).executeTakeFirstOrThrow();
        expect(Buffer.from(stored.bytes)).toEqual(att.content);
        expect(row.pdf_path).toBeNull();
        // The snapshot is the recipient as merged.
        expect(JSON.parse(row.recipient_snapshot!)).toEqual(r);
        expect(row.language).toBe(r.language);
        expect(row.template_id).toBe('cu-2009-92');
      }
      // The extracted text of each letter names its own recipient (the address block).
      await Promise.all(
        rows.map(async (row) => {
          const r = recipients.get(row.recipient_id)!;
          const text = norm(await pdfText(byDispatch.get(row.id)!.attachments[0]!.content));
          expect(text, row.id).toContain(norm(r.address.lines[0]!));
          expect(text, row.id).toContain(norm(r.titles[r.language]!.dative));
        }),
      );
      // `campaign pdfs` writes them out for people to open: the very PDFs that went out.
      const pdfDir = path.join(t.home, 'pdfs-out');
      const exported = await cli(t.env, ['campaign', 'pdfs', id, '--out', pdfDir]);
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout).toBe(`193 PDFs written to ${pdfDir}\n`);
      expect(fs.readdirSync(pdfDir).sort()).toEqual(rows.map((r) => `${r.id}.pdf`).sort());
      for (const row of rows) expect(fs.readFileSync(path.join(pdfDir, `${row.id}.pdf`))).toEqual(byDispatch.get(row.id)!.attachments[0]!.content);
      // French covering text for French-speaking States, English otherwise.
      const fra = byDispatch.get(rows.find((r) => r.recipient_id === 'FRA')!.id)!;
      expect(fra.text).toMatch(/Veuillez trouver ci-joint la note verbale CU 2009\/92 \(A\) du 8 juillet 2009/);
      const gbr = byDispatch.get(rows.find((r) => r.recipient_id === 'GBR')!.id)!;
      expect(gbr.text).toMatch(/Please find attached note verbale CU 2009\/92 \(A\) of 8 July 2009/);

      // The audit chain holds: every hash recomputes from its predecessor.
      const events = await db.selectFrom('events').selectAll().orderBy('id').execute();
      let prev = GENESIS_HASH;
      for (const e of events) {
        expect(e.prev_hash).toBe(prev);
        expect(e.hash).toBe(eventHash(prev, { ...e, data: JSON.parse(e.data) }));
        prev = e.hash;
      }
      expect(events.filter((e) => e.type === 'dispatch.sent' && e.campaign_id === id)).toHaveLength(193);
    } finally {
      await db.destroy();
    }

    const status = await cli(t.env, ['campaign', 'status', id, '--json']);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.counts.sent).toBe(193);
    expect(s.counts.total).toBe(193);
    expect(s.campaign.state).toBe('done');

    // Sending again sends nothing.
    await expect(startSend(opened.ctx.db, t.cfg, opened.ctx.queues, id, 'bob')).rejects.toThrow(/already sent/);
    expect(t.smtp.messages).toHaveLength(193);
  }, 180_000); // 193 PDFs rendered, sent and read back with pdftotext: about 35 s alone, more beside other files

  it('test-send goes to the staff address with TEST in the subject and is never counted as a dispatch', async () => {
    const created = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/92 (A)', '--audience', 'FRA,GBR', '--reply-by', '2009-07-31', '--by', 'alice']);
    const cid = lastLine(created.stdout);
    const before = t.smtp.messages.length;
    const r = await cli(t.env, ['campaign', 'test-send', cid, '--to', 'staff.member@un.org', '--recipient', 'FRA', '--by', 'carol']);
    expect(r.code, r.stderr).toBe(0);
    expect(t.smtp.messages.length).toBe(before + 1);
    const m = t.smtp.messages.at(-1)!;
    expect(m.envelope.to).toEqual(['staff.member@un.org']);
    expect(m.subject).toMatch(/^\[TEST\] CU 2009\/92 \(A\) — /);
    expect(m.attachments[0]!.filename).toBe('CU-2009-92-A_FRA.pdf');
    expect(norm(await pdfText(m.attachments[0]!.content))).toContain('Mission permanente de la France');
    const status = await campaignStatus(opened.ctx.db, cid);
    expect(status.counts.total).toBe(0);
    expect(status.testSends).toBe(1);
    const bad = await cli(t.env, ['campaign', 'test-send', cid, '--to', 'not-an-address']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--to: "not-an-address" is not an e-mail address/);
  });
});

describe('campaign rules', () => {
  it('job ids: derived from campaign, recipient and kind; no ":" and never all digits', () => {
    expect(dispatchIdFor('c0123456789', 'FRA', 'note')).toBe('note-c0123456789-FRA');
    const org = dispatchIdFor('c0123456789', 'org:EU', 'reminder');
    expect(org).toBe('reminder-c0123456789-org~3AEU');
    expect(jobIdFor(org)).not.toMatch(/:/);
    expect(jobIdFor(org, 2)).toBe(`${org}-r2`);
    expect(encodeIdPart('org:a~b')).not.toBe(encodeIdPart('org:a:b'));
  });

  it('next:CU allocates the number after CU 2009/92, never reusing one, even after a cancel', async () => {
    const { db, cfg } = opened.ctx;
    const base = { templateId: 'cu-2009-92', audience: 'FRA', replyBy: '2009-07-31', by: 'alice' };
    const a = await createCampaign(db, cfg, { ...base, reference: 'next:CU' });
    expect(a.reference).toBe('CU 2009/93');
    await cancelCampaign(db, a.id, 'alice');
    const b = await createCampaign(db, cfg, { ...base, reference: 'next:CU' });
    expect(b.reference).toBe('CU 2009/94');
    // A reference given in full marks its number as used.
    await createCampaign(db, cfg, { ...base, reference: 'CU 2009/120 (A)' });
    expect((await createCampaign(db, cfg, { ...base, reference: 'next:CU' })).reference).toBe('CU 2009/121');
    // The year is the letter date's.
    const c = await createCampaign(db, cfg, { ...base, reference: 'next:CU', letterDate: '2010-01-05', replyBy: '2010-02-01' });
    expect(c.reference).toBe('CU 2010/1');
    // Through the CLI too.
    const r = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'next:CU', '--audience', 'FRA', '--reply-by', '2009-07-31', '--by', 'alice']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/CU 2009\/122/);
  });

  it('refuses bad input with one line naming the option', async () => {
    const { db, cfg } = opened.ctx;
    const base = { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'FRA', by: 'alice', replyBy: '2009-07-31' };
    const cases: [Partial<typeof base> & { letterDate?: string; remind?: string }, RegExp][] = [
      [{ replyBy: '2009-02-30' }, /^--reply-by: "2009-02-30" is not a valid date/],
      [{ replyBy: '2009-07-01' }, /^--reply-by: 2009-07-01 is before the letter date 2009-07-08$/],
      [{ remind: '14,0' }, /^--remind: "0" is not a positive whole number/],
      [{ letterDate: '2009-7-8' }, /^--letter-date: "2009-7-8" is not a valid date/],
      [{ templateId: 'no-such' }, /no-such/],
      [{ audience: 'FRA,ZZZ' }, /ZZZ/],
      [{ reference: 'next:cu' }, /^--reference: "next:cu" must be next:SERIES/],
    ];
    for (const [over, re] of cases) {
      await expect(createCampaign(db, cfg, { ...base, ...over }), JSON.stringify(over)).rejects.toThrow(re);
    }
    // As a user sees it: exit 1, one line.
    const r = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/92 (A)', '--audience', 'FRA', '--reply-by', '2009-02-30']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('chancery: --reply-by: "2009-02-30" is not a valid date (expected yyyy-mm-dd, e.g. 2009-07-31)\n');
    // PDFs of a campaign that does not exist: exit 1, one line, no folder made.
    const out = path.join(t.home, 'no-pdfs');
    const pdfs = await cli(t.env, ['campaign', 'pdfs', 'cnosuchcamp0', '--out', out]);
    expect(pdfs).toMatchObject({ code: 1, stdout: '', stderr: 'chancery: unknown campaign "cnosuchcamp0"\n' });
    expect(fs.existsSync(out)).toBe(false);
  });

  it('a recipient or template changed after approval needs approval again', async () => {
    const { db } = opened.ctx;
    // Templates in a copy, so this test can edit one.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-tpl-'));
    for (const f of fs.readdirSync(t.cfg.paths.templates)) {
      fs.copyFileSync(path.join(t.cfg.paths.templates, f), path.join(dir, f));
    }
    const cfg = { ...t.cfg, paths: { ...t.cfg.paths, templates: dir } };
    const c = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'FRA,DEU', replyBy: '2009-07-31', by: 'alice' });
    await approveCampaign(db, cfg, c.id, 'bob');

    // A recipient edited in the registry.
    const recipients = await listRecipients(db);
    const fra = recipients.find((r) => r.id === 'FRA')!;
    const edited: Recipient = { ...fra, email: { ...fra.email, cc: [...fra.email.cc, 'new.cc@example.org'] } };
    await importRecipients(db, [edited]);
    await expect(startSend(db, cfg, opened.ctx.queues, c.id, 'bob')).rejects.toThrow(`campaign ${c.id} needs approval again: recipient FRA changed`);
    await importRecipients(db, [fra]);

    // The French version of the template edited on disk.
    const file = path.join(dir, 'cu-2009-92.fr.md');
    fs.appendFileSync(file, '\nUne phrase ajoutée après approbation.\n');
    await expect(startSend(db, cfg, opened.ctx.queues, c.id, 'bob')).rejects.toThrow(`campaign ${c.id} needs approval again: template cu-2009-92.fr changed`);

    // Approved again, it goes.
    await approveCampaign(db, cfg, c.id, 'bob');
    const r = await startSend(db, cfg, opened.ctx.queues, c.id, 'bob');
    expect(r.created).toBe(2);
    await cancelCampaign(db, c.id, 'bob');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
