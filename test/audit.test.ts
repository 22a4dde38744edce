import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../src/audit/bench.ts';
import { exportEvents } from '../src/audit/export.ts';
import { verifyChain } from '../src/audit/verify.ts';
import { approveCampaign } from '../src/campaigns/approval.ts';
import { createCampaign } from '../src/campaigns/create.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { ensureRegistryLoaded } from '../src/registry/index.ts';
import { openDb, openStore, type Db } from '../src/store/db.ts';
import { copyOfStore, freshStore, freshStoreEnv, rawSql } from './helpers/engines.ts';
import { createHash } from 'node:crypto';
import { appendEvent, appendEvents, canonicalJson, eventHash, GENESIS_HASH, type EventInput } from '../src/store/events.ts';
import type { EventsTable } from '../src/store/schema.ts';
import { writeTx } from '../src/store/tx.ts';

/**
 * The audit trail: a chain written by the real campaign code and appendEvent in a real SQLite
 * file; tampering with it by raw SQL, as someone with the database file could; the CLI as a user
 * runs it; exports read back with csv-parse and JSON.parse.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const FORMULA_ACTOR = '=HYPERLINK("http://x")';

let tmp: string;
let home: string;
let env: NodeJS.ProcessEnv;
let cfg: Config;
let db: Db;
let campaignA: string;
let campaignB: string;

type Cli = { code: number; stdout: string; stderr: string };
function chancery(args: string[], homeDir = home, storeEnv: Record<string, string> = {}): Promise<Cli> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), ...args], { cwd: ROOT, env: { ...env, CHANCERY_HOME: homeDir, ...storeEnv } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function allEvents(d: Db = db): Promise<EventsTable[]> {
  return d.selectFrom('events').selectAll().orderBy('id').execute();
}

/** A copy of the store in a home of its own, to tamper with (every id kept), on this run's engine. */
let copies = 0;
async function copyStore(): Promise<{ home: string; env: Record<string, string>; db: Db; sql: (text: string, ...params: unknown[]) => Promise<void> }> {
  const dir = path.join(tmp, `copy-${++copies}`);
  const copy = await copyOfStore(db, dir);
  return { home: dir, env: copy.env, db: copy.db, sql: (text, ...params) => rawSql(copy.db, text, ...params) };
}

/** What a spreadsheet-safe cell looks like: text starting with = + - @ tab CR gets a leading quote. */
function neutralised(value: string | number | null): string {
  if (value === null) return '';
  const s = String(value);
  return typeof value === 'string' && /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-audit-'));
  home = path.join(tmp, 'home');
  env = {
    ...process.env,
    CHANCERY_HOME: home,
    CHANCERY_TEMPLATES: path.join(ROOT, 'templates'),
    CHANCERY_REGISTRY: path.join(ROOT, 'seeds', 'registry.json'),
    ...(await freshStoreEnv()),
  };
  cfg = loadConfig(env);
  db = await openStore(cfg);
  await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);

  // Two real campaigns; the creator of A types a formula as their name (a hostile --by).
  const a = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'FRA,DEU', replyBy: '2009-07-31', remind: '14,3', by: FORMULA_ACTOR });
  await approveCampaign(db, cfg, a.id, 'M. Approver');
  const b = await createCampaign(db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/93', audience: 'AUT', replyBy: '2009-08-31', by: 'A. Drafter' });
  campaignA = a.id;
  campaignB = b.id;

  // The life of each dispatch, recorded as the workers record it (appendEvent in a write transaction).
  for (const [campaignId, rid] of [
    [campaignA, 'FRA'],
    [campaignA, 'DEU'],
    [campaignB, 'AUT'],
  ] as const) {
    const dispatchId = `note-${campaignId}-${rid}`;
    const actor = 'worker:host:1';
    await writeTx(db, async (trx) => {
      await appendEvent(trx, { type: 'dispatch.queued', campaignId, dispatchId, actor, data: { round: 1 } });
    });
    await writeTx(db, async (trx) => {
      await appendEvent(trx, { type: 'dispatch.rendered', campaignId, dispatchId, actor, data: { pdf_sha256: 'ab'.repeat(32), pages: 2, language: rid === 'DEU' ? 'en' : 'fr' } });
    });
    await writeTx(db, async (trx) => {
      await appendEvent(trx, {
        type: 'dispatch.sent',
        campaignId,
        dispatchId,
        actor,
        data: { message_id: `<${dispatchId}@chancery.unodc.org>`, smtp_response: '250 2.0.0 Ok: queued as 4B1F', subject: `CU 2009/92 — "Questionnaire", ${rid}`, note: '=1+1' },
      });
    });
  }
  await writeTx(db, async (trx) => {
    await appendEvent(trx, { type: 'dispatch.failed', campaignId: campaignB, dispatchId: `note-${campaignB}-AUT`, actor: '-worker', data: { error: 'SMTP 550 5.1.1 mailbox unavailable' } });
  });
}, 60_000);

afterAll(async () => {
  await db?.destroy();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('audit verify', () => {
  it('passes a chain written by the campaign code and appendEvent', async () => {
    const events = await allEvents();
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['campaign.created', 'campaign.approved', 'dispatch.sent', 'dispatch.failed']));
    expect(await verifyChain(db)).toEqual({ ok: true, count: events.length });
  });

  it('hashes the canonical JSON of the whole event (the format of chains already written)', () => {
    const event = { id: 7, at: '2009-07-08T09:00:00.000Z', type: 'dispatch.sent', campaign_id: null, dispatch_id: 'note-x-"FRA"', actor: 'Mme Ç. Ünal\u2028', data: { z: [3, { b: 1, a: '\u00e9' }], a: null, m: 'line\nbreak "quoted"' } };
    const expected = createHash('sha256').update('ab'.repeat(32) + canonicalJson(event)).digest('hex');
    expect(eventHash('ab'.repeat(32), event)).toBe(expected);
  });

  it('appendEvents writes the chain appendEvent writes one event at a time, over several INSERTs', async () => {
    const one = await openDb(await freshStore(tmp, 'one-by-one.db'));
    const batch = await openDb(await freshStore(tmp, 'batch.db'));
    const inputs: EventInput[] = Array.from({ length: 1_201 }, (_, i) => ({
      type: i % 2 ? 'dispatch.queued' : 'dispatch.created',
      campaignId: 'c1',
      dispatchId: `note-c1-${i}`,
      actor: 'A. Sender',
      at: '2009-07-08T09:00:00.000Z',
      data: { round: 1, recipient_id: `R${i}`, note: i === 600 ? '=1+1 "é"' : undefined },
    }));
    for (const d of [one, batch]) await writeTx(d, (trx) => appendEvent(trx, { type: 'campaign.created', campaignId: 'c1', actor: 'A. Drafter', at: '2009-07-01T00:00:00.000Z' }));
    await writeTx(one, async (trx) => {
      for (const input of inputs) await appendEvent(trx, input);
    });
    await writeTx(batch, (trx) => appendEvents(trx, inputs));
    const rows = await allEvents(batch);
    expect(rows).toHaveLength(1_202);
    expect(rows).toEqual(await allEvents(one));
    expect(rows[1]!.prev_hash).toBe(rows[0]!.hash);
    expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(await verifyChain(batch)).toEqual({ ok: true, count: 1_202 });
    await one.destroy();
    await batch.destroy();
  });

  it('events written with the COMMIT keep every character, and the chain links across transactions', async () => {
    const db = await openDb(await freshStore(tmp, 'characters.db'));
    const awkward = `it's \\ "quoted" \\\\' E'x' $$ -- ; commit; \n\t Côte d’Ivoire Россия 中国 مصر 🇺🇳 \u2028`;
    await writeTx(db, (trx) => appendEvent(trx, { type: 'campaign.created', campaignId: "c'1", actor: awkward, data: { note: awkward, n: 1 } }));
    await writeTx(db, async (trx) => {
      await appendEvent(trx, { type: 'campaign.approved', campaignId: "c'1", actor: 'A. Approver', data: { back: '\\' } });
      await appendEvent(trx, { type: 'campaign.sending', campaignId: "c'1", actor: 'A. Sender' });
    });
    const rows = await allEvents(db);
    expect(rows.map((r) => r.actor)).toEqual([awkward, 'A. Approver', 'A. Sender']);
    expect(JSON.parse(rows[0]!.data)).toEqual({ note: awkward, n: 1 });
    expect(JSON.parse(rows[1]!.data)).toEqual({ back: '\\' });
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(await verifyChain(db)).toEqual({ ok: true, count: 3 });
    await db.destroy();
  });

  it('shared transactions: one that throws leaves none of its events; the others in its group are chained and kept', async () => {
    const db = await openDb(await freshStore(tmp, 'shared.db'));
    const append = (n: number, fail: boolean) =>
      writeTx(
        db,
        async (trx) => {
          await appendEvent(trx, { type: 'test.shared', actor: `job ${n}`, data: { n, part: 1 } });
          await appendEvent(trx, { type: 'test.shared', actor: `job ${n}`, data: { n, part: 2 } });
          if (fail) throw new Error(`job ${n} failed`);
          return n;
        },
        { shared: true },
      );
    // Asked for in the same turn: one transaction, a savepoint each.
    const results = await Promise.allSettled([append(1, false), append(2, true), append(3, false), append(4, true)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    const rows = await allEvents(db);
    expect(rows.map((r) => JSON.parse(r.data) as { n: number; part: number })).toEqual([
      { n: 1, part: 1 },
      { n: 1, part: 2 },
      { n: 3, part: 1 },
      { n: 3, part: 2 },
    ]);
    expect(await verifyChain(db)).toEqual({ ok: true, count: 4 });
    await db.destroy();
  });

  it("detects an edited event's data, naming that event", async () => {
    const sent = (await allEvents()).filter((e) => e.type === 'dispatch.sent')[1]!;
    const c = await copyStore();
    await c.sql(`update events set data = replace(data, '250 2.0.0', '550 5.0.0') where id = ?`, sent.id);
    const r = await verifyChain(c.db);
    expect(r).toMatchObject({ ok: false, count: sent.id - 1, firstBad: { id: sent.id, reason: 'hash does not match', type: 'dispatch.sent' } });
    await c.db.destroy();
  });

  it('detects a deleted event, naming the missing id', async () => {
    const events = await allEvents();
    const victim = events[5]!;
    const c = await copyStore();
    await c.sql('delete from events where id = ?', victim.id);
    const r = await verifyChain(c.db);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.firstBad.id).toBe(victim.id);
    expect(r.firstBad.reason).toMatch(new RegExp(`^is missing \\(deleted\\): event ${victim.id + 1} follows event ${victim.id - 1}$`));
    await c.db.destroy();
  });

  it('detects two events swapped, naming the earlier position', async () => {
    const events = await allEvents();
    const [x, y] = [events[4]!.id, events[8]!.id];
    const c = await copyStore();
    await c.sql('update events set id = -1 where id = ?', x);
    await c.sql('update events set id = ? where id = ?', x, y);
    await c.sql('update events set id = ? where id = -1', y);
    const r = await verifyChain(c.db);
    expect(r).toMatchObject({ ok: false, firstBad: { id: x } });
    if (!r.ok) expect(r.firstBad.reason).toMatch(/^prev_hash does not match the hash of event/);
    await c.db.destroy();
  });

  it('detects a changed hash, naming that event', async () => {
    const target = (await allEvents())[3]!;
    const c = await copyStore();
    await c.sql('update events set hash = ? where id = ?', 'f'.repeat(64), target.id);
    expect(await verifyChain(c.db)).toMatchObject({ ok: false, firstBad: { id: target.id, reason: 'hash does not match' } });
    await c.db.destroy();
  });

  it('detects an edit whose own hash was recomputed: the next event no longer links to it', async () => {
    const events = await allEvents();
    const target = events[6]!;
    const c = await copyStore();
    // The forger recomputes the edited event's hash correctly, but cannot fix every later one without rewriting the chain.
    const { eventHash } = await import('../src/store/events.ts');
    const data = { ...JSON.parse(target.data), forged: true };
    const hash = eventHash(target.prev_hash, { ...target, data });
    await c.sql('update events set data = ?, hash = ? where id = ?', canonicalJson(data), hash, target.id);
    expect(await verifyChain(c.db)).toMatchObject({ ok: false, firstBad: { id: target.id + 1, reason: `prev_hash does not match the hash of event ${target.id} (reordered, or an event before it was replaced)` } });
    await c.db.destroy();
  });

  it('detects data rewritten to equal but non-canonical JSON', async () => {
    const target = (await allEvents())[2]!;
    const c = await copyStore();
    await c.sql('update events set data = ? where id = ?', JSON.stringify(JSON.parse(target.data), null, 1), target.id);
    expect(await verifyChain(c.db)).toMatchObject({ ok: false, firstBad: { id: target.id, reason: 'data is not the canonical JSON that was hashed' } });
    await c.db.destroy();
  });

  it('CLI: exit 0 with the count when whole; exit 1 with one line naming the first bad event', async () => {
    const events = await allEvents();
    const sent = events.find((e) => e.type === 'dispatch.sent')!;
    const c = await copyStore();
    await c.sql(`update events set actor = 'someone else' where id = ?`, sent.id);
    await c.db.destroy();
    const [good, bad] = await Promise.all([chancery(['audit', 'verify']), chancery(['audit', 'verify'], c.home, c.env)]);
    expect(good).toMatchObject({ code: 0, stdout: `chain whole: ${events.length} events\n`, stderr: '' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe(`chancery: event ${sent.id} (dispatch.sent at ${sent.at}): hash does not match — the chain is broken from here\n`);
  });
});

describe('audit export', () => {
  it('CSV: one row per event, equal to the store, formulas neutralised', async () => {
    const events = await allEvents();
    const out = path.join(tmp, 'events.csv');
    const r = await chancery(['audit', 'export', '--events', '--format', 'csv', '--out', out]);
    expect(r).toMatchObject({ code: 0, stdout: `exported ${events.length} events to ${out}\n` });
    const text = fs.readFileSync(out, 'utf8');
    expect(text.startsWith('\uFEFFid,at,type,campaign_id,dispatch_id,actor,data,prev_hash,hash\n')).toBe(true);
    const rows = parse(text, { bom: true, columns: true }) as Record<string, string>[];
    expect(rows).toEqual(
      events.map((e) => ({
        id: String(e.id),
        at: e.at,
        type: e.type,
        campaign_id: neutralised(e.campaign_id),
        dispatch_id: neutralised(e.dispatch_id),
        actor: neutralised(e.actor),
        data: e.data,
        prev_hash: e.prev_hash,
        hash: e.hash,
      })),
    );
    // The hostile creator name opens as text in a spreadsheet; so does an actor starting with '-'.
    expect(rows.find((row) => row.type === 'campaign.created')!.actor).toBe(`'${FORMULA_ACTOR}`);
    expect(rows.find((row) => row.type === 'dispatch.failed')!.actor).toBe("'-worker");
    expect(text).toContain(`,"'=HYPERLINK(""http://x"")",`);
    expect(text).not.toMatch(/(^|,)"?=HYPERLINK/m);
    // Nothing left beside the export: it was written under a temporary name and renamed.
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('JSONL: one canonical event per line, equal to the store', async () => {
    const events = await allEvents();
    const out = path.join(tmp, 'events.jsonl');
    const r = await chancery(['audit', 'export', '--events', '--format', 'jsonl', '--out', out]);
    expect(r.code).toBe(0);
    const lines = fs.readFileSync(out, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l))).toEqual(events.map((e) => ({ ...e, data: JSON.parse(e.data) })));
    lines.forEach((l) => expect(l).toBe(canonicalJson(JSON.parse(l))));
  });

  it('--campaign keeps only that campaign\'s events', async () => {
    const expected = (await allEvents()).filter((e) => e.campaign_id === campaignB);
    expect(expected.length).toBeGreaterThan(3);
    const out = path.join(tmp, 'b.csv');
    const r = await chancery(['audit', 'export', '--events', '--campaign', campaignB, '--format', 'csv', '--out', out]);
    expect(r.code).toBe(0);
    const rows = parse(fs.readFileSync(out, 'utf8'), { bom: true, columns: true }) as Record<string, string>[];
    expect(rows.map((row) => Number(row.id))).toEqual(expected.map((e) => e.id));
    expect(new Set(rows.map((row) => row.campaign_id))).toEqual(new Set([campaignB]));

    const { count } = await exportEvents(db, { campaignId: campaignA, format: 'jsonl', out: path.join(tmp, 'a.jsonl') });
    expect(count).toBe((await allEvents()).filter((e) => e.campaign_id === campaignA).length);
  });

  it('refuses bad input with one line and writes nothing', async () => {
    const out = path.join(tmp, 'never.csv');
    const [unknown, format, folder] = await Promise.all([
      chancery(['audit', 'export', '--campaign', 'cnosuchthing', '--format', 'csv', '--out', out]),
      chancery(['audit', 'export', '--format', 'xlsx', '--out', out]),
      chancery(['audit', 'export', '--format', 'csv', '--out', path.join(tmp, 'no', 'such', 'e.csv')]),
    ]);
    expect(unknown).toMatchObject({ code: 1, stderr: 'chancery: --campaign: unknown campaign "cnosuchthing"\n' });
    expect(format).toMatchObject({ code: 2, stderr: 'chancery: --format: "xlsx" is not csv or jsonl\n' });
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/^chancery: --out: folder .*no\/such does not exist\n$/);
    expect(fs.existsSync(out)).toBe(false);

    // A row that cannot be exported midway: the previous file under that name is left as it was.
    const c = await copyStore();
    const last = (await allEvents(c.db)).at(-1)!;
    await c.sql(`update events set data = '{broken' where id = ?`, last.id);
    const target = path.join(tmp, 'kept.jsonl');
    fs.writeFileSync(target, 'previous export\n');
    await expect(exportEvents(c.db, { format: 'jsonl', out: target })).rejects.toThrow(`event ${last.id}: data is not valid JSON`);
    expect(fs.readFileSync(target, 'utf8')).toBe('previous export\n');
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await c.db.destroy();
  });

  it('streams 20,000 generated events: the chain verifies and both exports hold every event', async () => {
    const c = await copyStore();
    const before = (await allEvents(c.db)).length;
    const { first, last } = await generateEvents(c.db, 20_000);
    expect([first, last]).toEqual([before + 1, before + 20_000]);
    expect(await verifyChain(c.db)).toEqual({ ok: true, count: before + 20_000 });

    const csv = path.join(c.home, 'big.csv');
    const jsonl = path.join(c.home, 'big.jsonl');
    expect(await exportEvents(c.db, { format: 'csv', out: csv })).toEqual({ count: before + 20_000 });
    expect(await exportEvents(c.db, { format: 'jsonl', out: jsonl })).toEqual({ count: before + 20_000 });

    const rows = parse(fs.readFileSync(csv, 'utf8'), { bom: true, columns: true }) as Record<string, string>[];
    const lines = fs.readFileSync(jsonl, 'utf8').trimEnd().split('\n');
    expect(rows.length).toBe(before + 20_000);
    expect(lines.length).toBe(before + 20_000);
    const stored = await c.db.selectFrom('events').selectAll().where('id', 'in', [1, first, 12_345, last]).orderBy('id').execute();
    for (const e of stored) {
      expect(rows[e.id - 1]!.hash).toBe(e.hash);
      expect(rows[e.id - 1]!.data).toBe(e.data);
      expect(JSON.parse(lines[e.id - 1]!)).toEqual({ ...e, data: JSON.parse(e.data) });
    }
    // Batch boundaries (every 1,000 rows) neither drop nor repeat an event.
    expect(rows.map((row) => Number(row.id))).toEqual(Array.from({ length: before + 20_000 }, (_, i) => i + 1));
    await c.db.destroy();
  });
});
