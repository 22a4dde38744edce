import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCampaign } from '../src/campaigns/create.ts';
import { loadConfig } from '../src/config.ts';
import { openDb } from '../src/store/db.ts';
import { chancery, hostileHome, ROOT } from './hostile.fixture.ts';

/**
 * Issue 21, "Input" (points 6 to 9), as a user meets each case on the command line: exit 1, one
 * line naming the option, or the file, row and field, and the store exactly as it was.
 */

const h = hostileHome();

async function rows(table: 'campaigns' | 'recipients'): Promise<string> {
  const db = await openDb(path.join(h.home, 'chancery.db'));
  try {
    return JSON.stringify(await db.selectFrom(table).selectAll().orderBy('id').execute());
  } finally {
    await db.destroy();
  }
}

/** `chancery ARGS` must fail with exit 1 and exactly one line, leaving `table` as it was. */
async function refused(args: string[], table: 'campaigns' | 'recipients'): Promise<string> {
  const before = await rows(table);
  const r = await chancery(h.env, args);
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr.endsWith('\n') && r.stderr.indexOf('\n') === r.stderr.length - 1, JSON.stringify(r.stderr)).toBe(true);
  expect(r.stderr.length).toBeLessThan(400);
  expect(await rows(table)).toBe(before);
  return r.stderr;
}

const create = (over: Record<string, string>) => {
  const opts: Record<string, string> = { '--template': 'cu-2009-92', '--reference': 'CU 2009/92 (A)', '--audience': 'FRA', '--reply-by': '2009-07-31', '--by': 'alice', ...over };
  return ['campaign', 'create', ...Object.entries(opts).flat()];
};

beforeAll(async () => {
  // The 193 Member States in the store, as after a first `registry list`.
  expect((await chancery(h.env, ['registry', 'list'])).code).toBe(0);
});
afterAll(() => h.cleanup());

describe('--remind is bounded (issue 21, point 6)', () => {
  it('a round falling on or before the letter date is refused, naming the option and the value', async () => {
    // The note of 8 July, reply by 31 July: 30 days before is 1 July, before the note existed.
    expect(await refused(create({ '--remind': '30' }), 'campaigns')).toBe(
      'chancery: --remind: 30 days before the reply-by date 2009-07-31 is 2009-07-01, not after the letter date 2009-07-08\n',
    );
    // On the letter date itself: still not after it.
    expect(await refused(create({ '--remind': '14,23' }), 'campaigns')).toBe(
      'chancery: --remind: 23 days before the reply-by date 2009-07-31 is 2009-07-08, not after the letter date 2009-07-08\n',
    );
  });

  it('at most 10 rounds; a list of 9,999 days is refused in one short line', async () => {
    expect(await refused(create({ '--remind': '1,2,3,4,5,6,7,8,9,10,11' }), 'campaigns')).toBe('chancery: --remind: "1,2,3,4,5,6,7,8,9,10,11" asks for 11 rounds; at most 10\n');
    const all = Array.from({ length: 9999 }, (_, i) => i + 1).join(',');
    expect(await refused(create({ '--remind': all }), 'campaigns')).toBe(`chancery: --remind: "${all.slice(0, 40)}…" asks for 9999 rounds; at most 10\n`);
  });

  it('the same rule for every caller of createCampaign (the web console creates through it too)', async () => {
    const db = await openDb(path.join(h.home, 'chancery.db'));
    try {
      const cfg = loadConfig({ ...process.env, ...h.env });
      const base = { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'FRA', replyBy: '2009-07-31', by: 'alice' };
      await expect(createCampaign(db, cfg, { ...base, remind: [30] })).rejects.toThrow(/^--remind: 30 days before the reply-by date 2009-07-31 is 2009-07-01, not after the letter date 2009-07-08$/);
      await expect(createCampaign(db, cfg, { ...base, remind: Array.from({ length: 11 }, (_, i) => i + 1) })).rejects.toThrow(/at most 10$/);
    } finally {
      await db.destroy();
    }
  });

  it('ten rounds between the letter date and the reply-by date are accepted', async () => {
    const r = await chancery(h.env, create({ '--remind': '22,20,18,16,14,12,10,7,3,1', '--reference': 'CU 2009/95' }));
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trimEnd().split('\n').at(-1)!;
    const stored = JSON.parse(await rows('campaigns')) as { id: string; remind_offsets: string }[];
    expect(JSON.parse(stored.find((c) => c.id === id)!.remind_offsets)).toEqual([22, 20, 18, 16, 14, 12, 10, 7, 3, 1]);
  });
});

describe('control characters and line separators are refused (issue 21, point 7)', () => {
  const HEADER = 'id,kind,language,addressee_type,name_en_short,name_en_running,name_en_of,title_en,title_en_dative,title_en_gender,address_line1,city,email_to';
  const row = (id: string, over: Partial<Record<'name' | 'line1' | 'city' | 'email', string>> = {}) =>
    `${id},organization,en,permanent-mission,${over.name ?? `Org ${id}`},the Org,of the Org,Permanent Mission,to the Permanent Mission,f,${over.line1 ?? 'Wagramer Strasse 5'},${over.city ?? 'Vienna'},${over.email ?? 'desk@example.org'}`;
  const csv = (...lines: string[]) => `${[HEADER, ...lines].join('\n')}\n`;

  it('in a registry CSV: C1 controls (NEL), U+2028 and U+2029, row and field named', async () => {
    const cases: [string, string, string][] = [
      ['nel.csv', csv(row('org:A'), row('org:B', { line1: 'Wagramer\u0085Strasse 5' })), 'row 2 (org:B), field address_line1: contains a control character (U+0085)'],
      ['ls.csv', csv(row('org:A', { name: 'Org\u2028Bcc: all@example.net' })), 'row 1 (org:A), field name_en_short: contains a control character (U+2028)'],
      ['ps.csv', csv(row('org:A', { city: 'Vienna\u2029' })), 'row 1 (org:A), field city: contains a control character (U+2029)'],
      ['c1.csv', csv(row('org:A', { name: 'Org\u009b31m' })), 'row 1 (org:A), field name_en_short: contains a control character (U+009B)'],
      ['email.csv', csv(row('org:A', { email: 'desk\u0085@example.org' })), 'row 1 (org:A), field email_to: contains a control character (U+0085)'],
    ];
    for (const [name, content, message] of cases) {
      const file = h.file(name, content);
      expect(await refused(['registry', 'import', file], 'recipients')).toBe(`chancery: ${file}: ${message}\n`);
    }
  });

  it('in a registry JSON file too', async () => {
    const fra = (JSON.parse(fs.readFileSync(path.join(ROOT, 'seeds', 'registry.json'), 'utf8')) as { id: string; address: { lines: string[] } }[]).find((r) => r.id === 'FRA')!;
    const file = h.file('ls.json', JSON.stringify([{ ...fra, address: { ...fra.address, lines: ['Ligne\u2028deux'] } }]));
    expect(await refused(['registry', 'import', file], 'recipients')).toBe(`chancery: ${file}: recipients[0] (FRA), field address.lines[0]: contains a control character (U+2028)\n`);
  });

  it('in a campaign reference: every control character, not only CR, LF and tab', async () => {
    for (const [ch, code] of [['\u0007', 'U+0007'], ['\u001b', 'U+001B'], ['\u007f', 'U+007F'], ['\u0085', 'U+0085'], ['\u2028', 'U+2028'], ['\u2029', 'U+2029']] as const) {
      expect(await refused(create({ '--reference': `CU 2009/92${ch}(A)` }), 'campaigns')).toBe(
        `chancery: --reference: contains a control character (${code}); it must be one line of at most 100 characters, e.g. "CU 2009/92 (A)" or next:CU\n`,
      );
    }
  });
});

describe('full-width formula starts are neutralised on export (issue 21, point 8)', () => {
  it('registry export quotes ＝ ＋ － ＠ as it quotes = + - @, and the file reads back unchanged', async () => {
    const HEADER = 'id,kind,language,addressee_type,name_en_short,name_en_running,name_en_of,title_en,title_en_dative,title_en_gender,address_line1,address_line2,city,email_to,custom_Desk';
    const line = (id: string, name: string, l1: string, l2: string, city: string, desk: string) =>
      `${id},organization,en,permanent-mission,${name},the Org,of the Org,Permanent Mission,to the Permanent Mission,f,${l1},${l2},${city},desk@example.org,${desk}`;
    const values = { name: '＋1 555 0100', line1: '＝HYPERLINK("http://x")', line2: "'＠SUM(A1)", city: '－2', desk: '＠cmd' };
    // In a file, a value starting with quotes then a formula sign carries one quote more.
    const file = h.file('fullwidth.csv', `${HEADER}\n${line('org:FW', values.name, `"${values.line1.replace(/"/g, '""')}"`, `'${values.line2}`, values.city, values.desk)}\n`);
    const imported = await chancery(h.env, ['registry', 'import', file]);
    expect(imported.code, imported.stderr).toBe(0);

    const out = path.join(h.home, 'export.csv');
    expect((await chancery(h.env, ['registry', 'export', '--format', 'csv', '--out', out])).code).toBe(0);
    const [header, ...cells] = parse(fs.readFileSync(out, 'utf8'), { bom: true }) as string[][];
    const fw = Object.fromEntries(header!.map((c, i) => [c, cells.find((r) => r[0] === 'org:FW')![i]!]));
    // As a spreadsheet would see the cells: each starts with a quote, none with a formula sign.
    expect(fw.name_en_short).toBe(`'${values.name}`);
    expect(fw.address_line1).toBe(`'${values.line1}`);
    expect(fw.address_line2).toBe(`'${values.line2}`);
    expect(fw.city).toBe(`'${values.city}`);
    expect(fw.custom_Desk).toBe(`'${values.desk}`);
    for (const r of cells) for (const c of r) expect(c).not.toMatch(/^[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]/);

    // Imported again: nothing changes (the quotes come off again, exactly one each).
    const again = await chancery(h.env, ['registry', 'import', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/\(0 added, 0 updated, \d+ unchanged\)/);
    const stored = JSON.parse(await rows('recipients')) as { id: string; data: string }[];
    const data = JSON.parse(stored.find((r) => r.id === 'org:FW')!.data) as { names: { en: { short: string } }; address: { lines: string[]; city: string }; custom: { Desk: string } };
    expect([data.names.en.short, ...data.address.lines.slice(0, 2), data.address.city, data.custom.Desk]).toEqual([values.name, values.line1, values.line2, values.city, values.desk]);
  });

  it('the audit export uses the same rule', async () => {
    const r = await chancery(h.env, create({ '--reference': 'CU 2009/96', '--by': '＠SUM(1)' }));
    expect(r.code, r.stderr).toBe(0);
    const out = path.join(h.home, 'events.csv');
    expect((await chancery(h.env, ['audit', 'export', '--events', '--format', 'csv', '--out', out])).code).toBe(0);
    const [header, ...events] = parse(fs.readFileSync(out, 'utf8'), { bom: true }) as string[][];
    const actor = header!.indexOf('actor');
    expect(events.map((e) => e[actor])).toContain("'＠SUM(1)");
  });
});

describe('template import of a file that is not UTF-8 (issue 21, point 9)', () => {
  const SEED_004 = path.join(ROOT, 'seeds', 'archive', '004_c09b3555f6de2e03.txt');

  it('says the file is not UTF-8 and where, exit 1, nothing written', async () => {
    // The archived note as a Windows editor would save it: Latin-1 (é is the single byte 0xE9).
    const latin1 = Buffer.from(fs.readFileSync(SEED_004, 'utf8').replace(/^\uFEFF/, ''), 'latin1');
    const file = h.file('note-latin1.txt', latin1);
    const offset = latin1.findIndex((b) => b >= 0x80);
    const line = 1 + latin1.subarray(0, offset).filter((b) => b === 0x0a).length;
    const hex = latin1[offset]!.toString(16).toUpperCase();
    const out = path.join(h.home, 'tpl', 'cu-2009-92.fr.md');
    const r = await chancery(h.env, ['template', 'import', file, '--id', 'cu-2009-92', '--lang', 'fr', '--out', out]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `chancery: ${file}: line ${line}: is not valid UTF-8 (byte 0x${hex} at offset ${offset}); save it as UTF-8\n` });
    expect(fs.existsSync(out)).toBe(false);

    // UTF-16 (with its byte-order mark) is named as such.
    const utf16 = h.file('note-utf16.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(fs.readFileSync(SEED_004, 'utf8'), 'utf16le')]));
    const r16 = await chancery(h.env, ['template', 'import', utf16, '--id', 'cu-2009-92', '--lang', 'fr', '--out', out]);
    expect(r16).toEqual({ code: 1, stdout: '', stderr: `chancery: ${utf16}: is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8\n` });
    expect(fs.existsSync(out)).toBe(false);

    // The same note in UTF-8 imports.
    const ok = await chancery(h.env, ['template', 'import', SEED_004, '--id', 'cu-2009-92', '--lang', 'fr', '--out', out]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toContain('{{Reference}}');
  });
});
