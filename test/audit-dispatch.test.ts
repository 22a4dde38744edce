import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Selectable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISPATCH_EXPORT_COLUMNS, exportDispatches } from '../src/audit/dispatch-export.ts';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { startSend } from '../src/campaigns/lifecycle.ts';
import { parseInstant, setClock, storeClock } from '../src/clock.ts';
import { driveClock } from '../src/deadlines/drive.ts';
import { recordReply } from '../src/deadlines/replies.ts';
import { getRecipient, importRecipients } from '../src/registry/index.ts';
import { recipientSchema } from '../src/registry/schema.ts';
import { batches } from '../src/store/batches.ts';
import type { DispatchesTable } from '../src/store/schema.ts';
import { writeTx } from '../src/store/tx.ts';
import { exportAudit } from '../src/web/service.ts';
import { runUntilDone } from '../workers/run.ts';
import { runRemindersUntilIdle } from '../workers/remind.ts';
import { cli, dispatchEnv, lastLine, type DispatchEnv } from './dispatch.fixture.ts';
import { copyOfStore } from './helpers/engines.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

/**
 * `chancery audit export` per dispatch: a real campaign of five sent with a real Redis, a real SMTP
 * server and real PDFs on the driven clock; one reply (France, by fax) before the reminder round,
 * reminders to the other four, then past the reply-by date. The exports are read back with
 * csv-parse and JSON.parse and checked against the store, the PDFs on disk and the messages the
 * SMTP server received. Canada's registry short name is a spreadsheet formula.
 */

const FORMULA = '=HYPERLINK("http://x")';
const AUDIENCE = ['BEL', 'CAN', 'DEU', 'FRA', 'GBR'];
const at = (s: string) => parseInstant(s, 'Europe/Vienna');

let redis: TestRedis;
let t: DispatchEnv;
let opened: OpenedContext;
let id: string;
let dispatches: Selectable<DispatchesTable>[];
const db = () => opened.ctx.db;

type CsvRow = Record<(typeof DISPATCH_EXPORT_COLUMNS)[number], string>;
const readCsv = (file: string) => parse(fs.readFileSync(file, 'utf8'), { bom: true, columns: true }) as CsvRow[];
const readJsonl = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  redis = await startRedisServer();
  t = await dispatchEnv(redis.url);
  opened = await openDispatchContext(t.cfg, { actor: 'test', mailer: true });

  // Registry edits as a user makes them (validated on import): a hostile short name, two Cc.
  const can = (await getRecipient(db(), 'CAN'))!;
  const hostile = { ...can, names: { ...can.names, en: { ...can.names.en!, short: FORMULA } } };
  expect(recipientSchema.safeParse(hostile).success).toBe(true);
  const deu = (await getRecipient(db(), 'DEU'))!;
  await importRecipients(db(), [hostile, { ...deu, email: { to: deu.email.to, cc: ['protocol.deu@example.org', 'legal.deu@example.org'] } }]);

  await setClock(db(), at('2009-07-08T10:00'), 'test');
  const c = await createCampaign(db(), t.cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: AUDIENCE.join(','), replyBy: '2009-07-31', remind: '14', by: 'alice' });
  id = c.id;
  await approveCampaign(db(), t.cfg, id, 'bob');
  await startSend(db(), t.cfg, opened.ctx.queues, id, 'bob');
  expect((await runUntilDone(opened, id)).sent).toBe(5);

  await driveClock(opened, at('2009-07-16T12:00'), 'test');
  await recordReply(db(), t.cfg, storeClock(db()), { campaignId: id, recipientId: 'FRA', receivedOn: '2009-07-10', channel: 'fax', by: 'carol' });
  await driveClock(opened, at('2009-07-17T09:00'), 'test');
  await runRemindersUntilIdle(opened, id);
  await driveClock(opened, at('2009-08-03T10:00'), 'test');

  dispatches = await db().selectFrom('dispatches').selectAll().where('campaign_id', '=', id).orderBy('id').execute();
  expect(dispatches.filter((d) => d.kind === 'reminder' && d.state === 'sent')).toHaveLength(4);
}, 120_000);

afterAll(async () => {
  await opened?.close();
  await t?.cleanup();
  await redis?.stop();
});

describe('audit export, one row per dispatch', () => {
  it('CLI CSV: every note and reminder, as the store, the PDFs and the SMTP server have them; formulas neutralised', async () => {
    const out = path.join(t.home, 'dispatches.csv');
    const r = await cli(t.env, ['audit', 'export', '--format', 'csv', '--out', out]);
    expect(r).toMatchObject({ code: 0, stdout: `exported 9 dispatches to ${out}\n`, stderr: '' });
    const text = fs.readFileSync(out, 'utf8');
    expect(text.startsWith(`\uFEFF${DISPATCH_EXPORT_COLUMNS.join(',')}\n`)).toBe(true);
    const rows = readCsv(out);
    expect(rows.map((row) => row.dispatch_id)).toEqual(dispatches.map((d) => d.id));

    const received = new Map(t.smtp.messages.map((m) => [m.headers['x-chancery-dispatch'], m]));
    for (const [i, d] of dispatches.entries()) {
      const row = rows[i]!;
      const m = received.get(d.id)!;
      const pdf = Buffer.from((await db().selectFrom('documents').select('bytes').where('dispatch_id', '=', d.id).executeTakeFirstOrThrow()).bytes);
      expect(row).toMatchObject({
        reference: 'CU 2009/92 (A)',
        campaign_id: id,
        kind: d.kind,
        reminder_key: d.kind === 'note' ? '' : 'b14',
        recipient_id: d.recipient_id,
        language: d.recipient_id === 'FRA' || d.recipient_id === 'BEL' ? 'fr' : 'en',
        channel: 'email',
        to: m.to.join(';'),
        cc: m.cc.join(';'),
        subject: m.subject,
        queued: d.created_at,
        sent: d.sent_at,
        message_id: m.messageId,
        smtp_response: d.smtp_response,
        pdf_sha256: createHash('sha256').update(pdf).digest('hex'),
        attempts: String(d.attempts),
        possible_duplicate: 'false',
        status: 'sent',
      });
      expect(row.smtp_response).toMatch(/^250 /);
      if (d.kind === 'reminder') expect(row).toMatchObject({ reminders_sent: '', reply_received: '', reply_channel: '', overdue: '' });
    }
    const note = (rid: string) => rows.find((row) => row.kind === 'note' && row.recipient_id === rid)!;
    // France replied by fax before the round: no reminder, not overdue; the others were reminded on 17 July and are overdue on 3 August.
    expect(note('FRA')).toMatchObject({ recipient_name: 'France', reply_received: '2009-07-10', reply_channel: 'fax', reminders_sent: '', overdue: 'false' });
    for (const rid of ['BEL', 'CAN', 'DEU', 'GBR']) expect(note(rid)).toMatchObject({ reply_received: '', reply_channel: '', reminders_sent: '2009-07-17', overdue: 'true' });
    expect(note('BEL').recipient_name).toBe('Belgique');
    expect(note('DEU').cc).toBe('protocol.deu@example.org;legal.deu@example.org');

    // The registry's formula opens as text in a spreadsheet, on the note and on its reminder.
    expect(rows.filter((row) => row.recipient_id === 'CAN').map((row) => row.recipient_name)).toEqual([`'${FORMULA}`, `'${FORMULA}`]);
    expect(text).toContain(`,"'=HYPERLINK(""http://x"")",`);
    expect(text).not.toMatch(/(^|,)"?=HYPERLINK/m);
    expect(fs.readdirSync(t.home).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('JSONL: the same rows with lists as lists, booleans and nulls as such, values untouched', async () => {
    const out = path.join(t.home, 'dispatches.jsonl');
    expect(await exportDispatches(db(), { campaignId: id, format: 'jsonl', out, today: '2009-08-03' })).toEqual({ count: 9 });
    const rows = readJsonl(out);
    expect(rows.map((row) => row.dispatch_id)).toEqual(dispatches.map((d) => d.id));
    expect(rows.every((row) => JSON.stringify(Object.keys(row)) === JSON.stringify(DISPATCH_EXPORT_COLUMNS))).toBe(true);
    for (const [i, d] of dispatches.entries()) {
      expect(rows[i]).toMatchObject({ message_id: d.message_id, pdf_sha256: d.pdf_sha256, sent: d.sent_at, attempts: d.attempts, possible_duplicate: false, status: 'sent' });
    }
    const fra = rows.find((row) => row.dispatch_id === `note-${id}-FRA`)!;
    expect(fra).toMatchObject({ to: ['mission.fra@example.org'], cc: ['protocol.fra@example.org'], reply_received: '2009-07-10', reply_channel: 'fax', reminders_sent: [], overdue: false });
    const can = rows.find((row) => row.dispatch_id === `note-${id}-CAN`)!;
    expect(can).toMatchObject({ recipient_name: FORMULA, reminders_sent: ['2009-07-17'], reply_received: null, overdue: true });
    expect(rows.find((row) => row.kind === 'reminder')).toMatchObject({ reminder_key: 'b14', reminders_sent: [], reply_received: null, overdue: null });
  });

  it('overdue follows the business date: on the reply-by date nobody is overdue yet', async () => {
    const out = path.join(t.home, 'on-the-day.csv');
    await exportDispatches(db(), { campaignId: id, format: 'csv', out, today: '2009-07-31' });
    expect(new Set(readCsv(out).map((row) => row.overdue))).toEqual(new Set(['false', '']));
  });

  it('--campaign: only that campaign; a campaign without dispatches gives the header alone; --events still gives events', async () => {
    const draft = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/93', '--audience', 'AUT', '--reply-by', '2009-09-30', '--by', 'alice']);
    expect(draft.code, draft.stderr).toBe(0);
    const draftId = lastLine(draft.stdout);
    const empty = path.join(t.home, 'empty.csv');
    const events = path.join(t.home, 'events.csv');
    const [a, b] = await Promise.all([
      cli(t.env, ['audit', 'export', '--campaign', draftId, '--format', 'csv', '--out', empty]),
      cli(t.env, ['audit', 'export', '--events', '--campaign', id, '--format', 'csv', '--out', events]),
    ]);
    expect(a).toMatchObject({ code: 0, stdout: `exported 0 dispatches to ${empty}\n` });
    expect(fs.readFileSync(empty, 'utf8')).toBe(`\uFEFF${DISPATCH_EXPORT_COLUMNS.join(',')}\n`);
    expect(b.code, b.stderr).toBe(0);
    const eventRows = parse(fs.readFileSync(events, 'utf8'), { bom: true, columns: true }) as Record<string, string>[];
    expect(eventRows.filter((e) => e.type === 'dispatch.sent')).toHaveLength(9);

    const help = await cli(t.env, ['audit', 'export', '--help']);
    expect(help.stdout).toContain('--events');
    expect(help.stdout).toMatch(/one row per dispatch/);
  });

  it('the web console offers both: events by default, one row per dispatch with rows=dispatches; the export is recorded', async () => {
    const rt = { cfg: t.cfg, db: db(), queues: opened.ctx.queues, redis: opened.redis, inProcessWorkers: false, close: async () => undefined };
    const viewer = { name: 'vera', role: 'viewer' as const, created_at: '2009-07-01T00:00:00.000Z', created_by: 'admin', disabled_at: null };
    const perDispatch = await exportAudit(rt, viewer, id, 'csv', 'dispatches');
    expect(perDispatch.count).toBe(9);
    const rows = parse(perDispatch.text.toString('utf8'), { bom: true, columns: true }) as CsvRow[];
    expect(rows.map((row) => row.dispatch_id)).toEqual(dispatches.map((d) => d.id));
    const events = await exportAudit(rt, viewer, id, 'csv');
    expect(events.text.toString('utf8').startsWith('\uFEFFid,at,type,campaign_id,dispatch_id,actor,data,prev_hash,hash\n')).toBe(true);
    const recorded = await db().selectFrom('events').select('data').where('type', '=', 'audit.exported').where('actor', '=', 'vera').orderBy('id').execute();
    expect(recorded.map((e) => JSON.parse(e.data))).toEqual([
      { format: 'csv', dispatches: 9 },
      { format: 'csv', events: events.count },
    ]);
  });

  it('keyset batches neither drop nor repeat a dispatch (2,500 rows)', async () => {
    // A copy of the store with 2,491 more notes cloned from a real one (ids ordered as text).
    const dir = path.join(t.home, 'big');
    const { db: copy } = await copyOfStore(db(), dir);
    try {
      const src = await copy.selectFrom('dispatches').selectAll().where('kind', '=', 'note').where('recipient_id', '=', 'GBR').executeTakeFirstOrThrow();
      const clones = Array.from({ length: 2491 }, (_, i) => ({ ...src, id: `note-${id}-X${i}`, recipient_id: `X${i}`, message_id: `<x${i}@test>`, template_id: null, template_version: null, template_sha256: null, pages: null, pdf_path: null, claim_job: null, error: null, rendered_at: null, original_dispatch_id: null, letter_date: null, reminder_key: '' }));
      await writeTx(copy, async (trx) => {
        for (const b of batches(clones)) await trx.insertInto('dispatches').values(b).execute();
      });
      const out = path.join(dir, 'all.csv');
      expect(await exportDispatches(copy, { format: 'csv', out, today: '2009-08-03' })).toEqual({ count: 2500 });
      const ids = readCsv(out).map((row) => row.dispatch_id);
      const stored = (await copy.selectFrom('dispatches').select('id').orderBy('id').execute()).map((d) => d.id);
      expect(ids).toEqual(stored);
      expect(new Set(ids).size).toBe(2500);
    } finally {
      await copy.destroy();
    }
  });

  it('refuses bad input with one line and writes nothing', async () => {
    const out = path.join(t.home, 'never.csv');
    const [unknown, folder] = await Promise.all([
      cli(t.env, ['audit', 'export', '--campaign', 'cnosuchthing', '--format', 'csv', '--out', out]),
      cli(t.env, ['audit', 'export', '--format', 'jsonl', '--out', path.join(t.home, 'no', 'such', 'd.jsonl')]),
    ]);
    expect(unknown).toMatchObject({ code: 1, stderr: 'chancery: --campaign: unknown campaign "cnosuchthing"\n' });
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/^chancery: --out: folder .*no\/such does not exist\n$/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
