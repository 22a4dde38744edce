import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../src/campaigns/context.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { campaignStatus, startSend } from '../src/campaigns/lifecycle.ts';
import { parseInstant, setClock, storeClock, zonedInstant } from '../src/clock.ts';
import { driveClock, sweepNow } from '../src/deadlines/drive.ts';
import { overdueRecipients } from '../src/campaigns/followup.ts';
import { openRemindQueue, reminderJobId } from '../src/campaigns/reminder-jobs.ts';
import { listReminderRounds, runReminderRound } from '../src/deadlines/jobs.ts';
import { recordReply } from '../src/deadlines/replies.ts';
import { ingestReplies } from '../src/deadlines/ingest.ts';
import { getRecipient, importRecipients } from '../src/registry/index.ts';
import { runUntilDone } from '../workers/run.ts';
import { runRemindersUntilIdle } from '../workers/remind.ts';
import { cli, dispatchEnv, lastLine, type DispatchEnv } from './dispatch.fixture.ts';
import { pdfText } from './helpers/pdf.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

/**
 * The CU 2009/92 (A) timeline on the driven clock, with a real Redis, a real SMTP server and
 * real PDFs: sent 8 July; replies; reminders 17 July (b14) and 28 July (b3) to non-responders
 * only; deadline 31 July; overdue list; reply-by moved; overdue reminder (o7).
 */

let redis: TestRedis;
let t: DispatchEnv;
let opened: OpenedContext;

const AUDIENCE = ['ARG', 'AUT', 'BEL', 'BRA', 'CAN', 'CHE', 'CIV', 'DEU', 'DZA', 'ESP', 'FRA', 'GBR', 'IRL', 'ITA', 'JPN', 'MAR', 'MEX', 'NLD', 'SEN', 'TUN'];
const FRENCH = new Set(['BEL', 'CHE', 'CIV', 'DZA', 'FRA', 'MAR', 'SEN', 'TUN']);
/** Replied before the first reminder (8). */
const EARLY = ['ARG', 'BRA', 'ESP', 'FRA', 'GBR', 'ITA', 'JPN', 'NLD'];
/** No reply by the deadline (11): the 12 reminded on 17 July less Germany. */
const SILENT = ['AUT', 'BEL', 'CAN', 'CHE', 'CIV', 'DZA', 'IRL', 'MAR', 'MEX', 'SEN', 'TUN'];
// Apostrophes aside: pdftotext does not always give them back as typed.
const norm = (s: string) => s.replace(/['’]/g, ' ').replace(/\s+/g, ' ');
const at = (s: string) => parseInstant(s, 'Europe/Vienna');

beforeAll(async () => {
  redis = await startRedisServer();
  t = await dispatchEnv(redis.url);
  opened = await openDispatchContext(t.cfg, { actor: 'test', mailer: true });
});
afterAll(async () => {
  await opened?.close();
  await t?.cleanup();
  await redis?.stop();
});

/** The reminder e-mails the SMTP server received for one round, by recipient id. */
function reminderMessages(key: string) {
  return new Map(
    t.smtp.messages
      .filter((m) => m.headers['x-chancery-dispatch']?.startsWith('reminder-') && m.headers['x-chancery-dispatch']?.endsWith(`-${key}`))
      .map((m) => [m.headers['x-chancery-dispatch']!.split('-')[2]!, m]),
  );
}

describe('deadlines of CU 2009/92 (A) on the driven clock', () => {
  let id: string;
  const db = () => opened.ctx.db;

  it('8 July: the note goes to 20 governments and three reminder rounds are scheduled at 09:00 Vienna', async () => {
    await setClock(db(), at('2009-07-08T10:00'), 'test');
    const created = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/92 (A)', '--audience', AUDIENCE.join(','), '--reply-by', '2009-07-31', '--remind', '14,3', '--overdue-remind', '7', '--by', 'alice']);
    expect(created.code, created.stderr).toBe(0);
    id = lastLine(created.stdout);
    await approveCampaign(db(), t.cfg, id, 'bob');
    await startSend(db(), t.cfg, opened.ctx.queues, id, 'bob');
    const done = await runUntilDone(opened, id);
    expect(done.sent).toBe(20);
    expect(t.smtp.messages).toHaveLength(20);

    const rounds = await listReminderRounds(db(), id);
    expect(rounds.map((r) => [r.key, r.due_on, r.due_at, r.state])).toEqual([
      ['b14', '2009-07-17', '2009-07-17T07:00:00.000Z', 'scheduled'],
      ['b3', '2009-07-28', '2009-07-28T07:00:00.000Z', 'scheduled'],
      ['o7', '2009-08-07', '2009-08-07T07:00:00.000Z', 'scheduled'],
    ]);
    // One delayed BullMQ job per round, timed on the clock.
    const q = openRemindQueue(t.cfg, opened.ctx.queues.connection);
    try {
      for (const r of rounds) expect(await (await q.getJob(reminderJobId(r)))?.getState()).toBe('delayed');
    } finally {
      await q.close();
    }
  });

  it('replies: recorded with a file, refused twice, replaced with --replace', async () => {
    await driveClock(opened, at('2009-07-16T12:00'), 'test');
    const scan = path.join(t.home, 'fra-note-457.pdf');
    fs.writeFileSync(scan, '%PDF-1.4 scan of note 457/2009');
    const first = await cli(t.env, ['reply', 'record', id, 'FRA', '--received', '2009-07-15', '--channel', 'note-verbale', '--reference', 'Note n° 457/2009', '--file', scan, '--by', 'carol']);
    expect(first.code, first.stderr).toBe(0);
    const twice = await cli(t.env, ['reply', 'record', id, 'FRA', '--received', '2009-07-16', '--by', 'carol']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/^chancery: campaign c\w+: a reply from FRA is already on record \(received 2009-07-15 by note-verbale\); use --replace to replace it\n$/);
    const replaced = await cli(t.env, ['reply', 'record', id, 'FRA', '--received', '2009-07-16', '--channel', 'fax', '--reference', 'Note n° 457/2009', '--replace', '--by', 'carol']);
    expect(replaced.code, replaced.stderr).toBe(0);
    const rows = await db().selectFrom('replies').selectAll().where('campaign_id', '=', id).where('recipient_id', '=', 'FRA').orderBy('logged_at').execute();
    expect(rows).toHaveLength(2);
    expect(rows[0]!.replaced_by).toBe(rows[1]!.id);
    expect(rows[0]!.file_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.readFileSync(path.join(t.home, rows[0]!.file_path!), 'utf8')).toBe('%PDF-1.4 scan of note 457/2009');
    expect(rows[1]).toMatchObject({ received_on: '2009-07-16', channel: 'fax', replaced_by: null, logged_by: 'carol' });

    // Bad input: one line naming the option; nothing written.
    const base = { campaignId: id, recipientId: 'GBR', by: 'carol' };
    for (const [over, re] of [
      [{ receivedOn: '2009-07-20' }, /^--received: 2009-07-20 is in the future \(today is 2009-07-16 at the duty station\)$/],
      [{ receivedOn: '2009-07-01' }, /^--received: 2009-07-01 is before the date of the note \(2009-07-08\)$/],
      [{ channel: 'pigeon' }, /^--channel: "pigeon" is not one of email, fax, post, hand, note-verbale$/],
      [{ file: '/no/such/file' }, /^--file: cannot read \/no\/such\/file$/],
      [{ recipientId: 'ZZZ' }, /has no note dispatched to ZZZ/],
    ] as [Partial<typeof base> & Record<string, string>, RegExp][]) {
      await expect(recordReply(db(), t.cfg, storeClock(db()), { ...base, ...over }), JSON.stringify(over)).rejects.toThrow(re);
    }
    expect(await db().selectFrom('replies').select('id').where('recipient_id', '=', 'GBR').execute()).toHaveLength(0);

    for (const rid of EARLY.filter((r) => r !== 'FRA')) await recordReply(db(), t.cfg, storeClock(db()), { campaignId: id, recipientId: rid, receivedOn: '2009-07-16', by: 'carol' });
    expect(await db().selectFrom('replies').select('id').where('campaign_id', '=', id).where('replaced_by', 'is', null).execute()).toHaveLength(8);
  });

  it('a lost Redis job is re-created from the store by the sweep', async () => {
    const b14 = (await listReminderRounds(db(), id)).find((r) => r.key === 'b14')!;
    const jobId = reminderJobId(b14);
    const prefix = `${t.cfg.QUEUE_PREFIX}:remind`;
    const conn = opened.ctx.queues.connection;
    expect(await conn.exists(`${prefix}:${jobId}`)).toBe(1);
    await conn.del(`${prefix}:${jobId}`);
    await conn.zrem(`${prefix}:delayed`, jobId);
    const q = openRemindQueue(t.cfg, conn);
    try {
      expect(await q.getJob(jobId)).toBeUndefined();
      const report = await sweepNow(opened);
      expect(report.added).toBe(1);
      expect(await (await q.getJob(jobId))?.getState()).toBe('delayed');
    } finally {
      await q.close();
    }
  });

  it('17 July 09:00: reminders go to the 12 that have not replied, each a note of its own addressed as the registry stands today', async () => {
    // A new Permanent Representative of Canada since 8 July: the reminder is addressed to today's record.
    const can = (await getRecipient(db(), 'CAN'))!;
    await importRecipients(db(), [{ ...can, address: { ...can.address, lines: ['Permanent Mission of Canada', 'Laurenzerberg 2, new premises'] } }]);

    const before = t.smtp.messages.length;
    await driveClock(opened, at('2009-07-17T09:00'), 'test');
    await runRemindersUntilIdle(opened, id);
    const sent = reminderMessages('b14');
    expect([...sent.keys()].sort()).toEqual(AUDIENCE.filter((r) => !EARLY.includes(r)));
    expect(t.smtp.messages.length).toBe(before + 12);

    const notes = new Map((await db().selectFrom('dispatches').selectAll().where('campaign_id', '=', id).where('kind', '=', 'note').execute()).map((d) => [d.recipient_id, d]));
    for (const [rid, m] of sent) {
      const original = notes.get(rid)!;
      expect(m.headers['in-reply-to']).toBe(original.message_id);
      expect(m.messageId).not.toBe(original.message_id);
      expect(m.subject).toMatch(/^CU 2009\/92 \(A\) — (Rappel|Reminder): /);
      const text = norm(await pdfText(m.attachments[0]!.content));
      if (FRENCH.has(rid)) {
        expect(text, rid).toContain(norm("a l'honneur de se référer à sa note verbale CU 2009/92 (A) du 8 juillet 2009"));
        expect(text, rid).toContain(norm("d'ici au 31 juillet 2009"));
        expect(text, rid).toContain('Le 17 juillet 2009');
        expect(m.text).toMatch(/rappel concernant la note verbale CU 2009\/92 \(A\) du 8 juillet 2009/);
      } else {
        expect(text, rid).toContain('has the honour to refer to his note verbale CU 2009/92 (A) of 8 July 2009');
        expect(text, rid).toContain('was requested by 31 July 2009');
        expect(text, rid).toContain('17 July 2009');
      }
    }
    expect(norm(await pdfText(sent.get('CAN')!.attachments[0]!.content))).toContain('Laurenzerberg 2, new premises');
    const rows = await db().selectFrom('dispatches').selectAll().where('campaign_id', '=', id).where('kind', '=', 'reminder').execute();
    expect(rows).toHaveLength(12);
    for (const r of rows) {
      expect(r).toMatchObject({ state: 'sent', reminder_key: 'b14', letter_date: '2009-07-17', template_id: 'cu-2009-92-reminder' });
      expect(r.original_dispatch_id).toBe(notes.get(r.recipient_id)!.id);
    }
    expect(JSON.parse(rows.find((r) => r.recipient_id === 'CAN')!.recipient_snapshot!).address.lines[1]).toBe('Laurenzerberg 2, new premises');
    expect((await listReminderRounds(db(), id)).find((r) => r.key === 'b14')).toMatchObject({ state: 'done', result: JSON.stringify({ reminded: 12, replied: 8, not_sent: 0 }) });
  });

  it('28 July: a reply recorded just before the second reminder is sent cancels it: 11 reminded', async () => {
    await driveClock(opened, at('2009-07-28T09:00'), 'test');
    // The round runs (reminder dispatches created and queued) ...
    const b3 = (await listReminderRounds(db(), id)).find((r) => r.key === 'b3')!;
    const round = await runReminderRound(opened.ctx, storeClock(db()), { campaignId: id, reminderId: b3.id, dueAt: b3.due_at });
    expect(round).toMatchObject({ outcome: 'sent-to-render', replied: 8 });
    expect(round.outcome === 'sent-to-render' && round.reminded).toContain('DEU');
    // ... and Germany's reply is logged a moment before the workers get to its reminder.
    const deu = await recordReply(db(), t.cfg, storeClock(db()), { campaignId: id, recipientId: 'DEU', channel: 'post', by: 'carol' });
    expect(deu.cancelledReminders).toEqual([`reminder-${id}-DEU-b3`]);

    await runRemindersUntilIdle(opened, id);
    const sent = reminderMessages('b3');
    expect([...sent.keys()].sort()).toEqual(SILENT);
    expect((await db().selectFrom('dispatches').select('state').where('id', '=', `reminder-${id}-DEU-b3`).executeTakeFirstOrThrow()).state).toBe('cancelled');
    for (const m of sent.values()) expect(norm(await pdfText(m.attachments[0]!.content))).toMatch(/28 (juillet|July) 2009/);
  });

  it('after 31 July the overdue list names exactly those 11; campaign status shows the whole story', async () => {
    await driveClock(opened, at('2009-07-31T18:00'), 'test');
    expect((await overdueRecipients(db(), t.cfg, storeClock(db()), id)).overdue).toHaveLength(0);
    await driveClock(opened, at('2009-08-01T09:00'), 'test');
    const r = await cli(t.env, ['campaign', 'overdue', id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/reply by 2009-07-31, today 2009-08-01: 11 overdue/);
    const listed = r.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
    expect(listed).toEqual(SILENT);

    const s = await campaignStatus(db(), id, t.cfg);
    const byId = new Map(s.followUp.recipients.map((x) => [x.recipient_id, x]));
    expect(byId.get('FRA')).toMatchObject({ note_state: 'sent', replied: { on: '2009-07-16', channel: 'fax' }, reminders: [], overdue: false });
    expect(byId.get('DEU')!.replied).toMatchObject({ on: '2009-07-28', channel: 'post' });
    expect(byId.get('DEU')!.reminders.map((m) => [m.key, m.date, m.state])).toEqual([
      ['b14', '2009-07-17', 'sent'],
      ['b3', '2009-07-28', 'cancelled'],
    ]);
    expect(byId.get('SEN')!.reminders.filter((m) => m.state === 'sent').map((m) => m.date)).toEqual(['2009-07-17', '2009-07-28']);
    expect(byId.get('SEN')!.overdue).toBe(true);
    expect(s.followUp.counts).toEqual({ sent: 20, replied: 9, reminded: 12, overdue: 11 });
    const text = await cli(t.env, ['campaign', 'status', id]);
    expect(text.stdout).toMatch(/follow-up on 2009-08-01: 20 sent, 9 replied, 12 reminded, 11 overdue/);
    expect(text.stdout).toMatch(/SEN\s+sent \S+\s+no reply\s+reminded 2009-07-17, 2009-07-28\s+OVERDUE/);
  });

  it('set-reply-by moves the pending round and its job; the overdue reminder then goes to the 11', async () => {
    const o7before = (await listReminderRounds(db(), id)).find((r) => r.key === 'o7')!;
    const r = await cli(t.env, ['campaign', 'set-reply-by', id, '2009-08-04', '--by', 'bob']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/reminder o7 due 2009-08-11/);
    const o7 = (await listReminderRounds(db(), id)).find((x) => x.key === 'o7')!;
    expect(o7).toMatchObject({ state: 'scheduled', due_on: '2009-08-11', due_at: zonedInstant('2009-08-11', '09:00', 'Europe/Vienna').toISOString() });
    // Done rounds stay as they were.
    expect((await listReminderRounds(db(), id)).find((x) => x.key === 'b3')!.due_on).toBe('2009-07-28');
    // The sweep moves the job: the old id is gone, the new one is delayed.
    await sweepNow(opened);
    const q = openRemindQueue(t.cfg, opened.ctx.queues.connection);
    try {
      expect(await q.getJob(reminderJobId(o7before))).toBeUndefined();
      expect(await (await q.getJob(reminderJobId(o7)))?.getState()).toBe('delayed');
    } finally {
      await q.close();
    }
    // Nobody is overdue on 1 August any more.
    expect((await overdueRecipients(db(), t.cfg, storeClock(db()), id)).overdue).toHaveLength(0);

    await driveClock(opened, at('2009-08-11T09:00'), 'test');
    await runRemindersUntilIdle(opened, id);
    const sent = reminderMessages('o7');
    expect([...sent.keys()].sort()).toEqual(SILENT);
    expect(norm(await pdfText(sent.get('BEL')!.attachments[0]!.content))).toContain(norm("d'ici au 4 août 2009"));
    expect((await overdueRecipients(db(), t.cfg, storeClock(db()), id)).overdue.map((x) => x.recipient_id)).toEqual(SILENT);

    // Mexico answers the overdue reminder by e-mail: In-Reply-To names the reminder, the reply is the note's.
    const reminder = sent.get('MEX')!;
    const inbox = path.join(t.home, 'inbox');
    fs.mkdirSync(inbox, { recursive: true });
    fs.writeFileSync(
      path.join(inbox, 'mex.eml'),
      `From: Mision Permanente de Mexico <mission.mex@example.org>\nTo: untoc.cop@unodc.org\nSubject: RE: ${reminder.subject}\nDate: Wed, 12 Aug 2009 10:00:00 +0200\nMessage-ID: <mex-reply@example.org>\nIn-Reply-To: ${reminder.messageId}\n\nMexico proposes topics a) and e).\n`,
    );
    const ingested = await ingestReplies(db(), t.cfg, storeClock(db()), inbox, { by: 'carol' });
    expect(ingested).toMatchObject([{ outcome: 'matched', recipientId: 'MEX', method: 'in-reply-to' }]);
    expect((await overdueRecipients(db(), t.cfg, storeClock(db()), id)).overdue.map((x) => x.recipient_id)).toEqual(SILENT.filter((r) => r !== 'MEX'));
  });
});
