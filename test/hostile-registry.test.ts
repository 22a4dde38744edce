import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRecipients, parseRegistryFile } from '../src/registry/index.ts';
import { openDb } from '../src/store/db.ts';
import { chancery, hostileHome, recordHostile } from './hostile.fixture.ts';

/**
 * Hostile registry files through `chancery registry import`, as a user meets them: exit 1, one
 * line naming the file, row and field, no stack trace, and the store exactly as it was.
 * (test/registry.test.ts checks the exact messages of several of these at the library level.)
 */

const HEADER = 'id,kind,language,addressee_type,name_en_short,name_en_running,name_en_of,title_en,title_en_dative,title_en_gender,address_line1,city,email_to';
const row = (id: string, over: Partial<Record<'name' | 'line1' | 'email', string>> = {}) =>
  `${id},organization,en,permanent-mission,${over.name ?? `Org ${id}`},the Org,of the Org,Permanent Mission,to the Permanent Mission,f,${over.line1 ?? 'Wagramer Strasse 5'},Vienna,${over.email ?? 'desk@example.org'}`;
const csv = (...rows: string[]) => `${[HEADER, ...rows].join('\n')}\n`;

const h = hostileHome();
let tried = 0;
let rejected = 0;
let safe = 0;

async function snapshot(): Promise<string> {
  const db = await openDb(`${h.home}/chancery.db`);
  try {
    return JSON.stringify(await db.selectFrom('recipients').selectAll().orderBy('id').execute());
  } finally {
    await db.destroy();
  }
}

/** Imports `file`; expects exit 1, one line matching `message`, no stack, no change in the store. */
async function refused(file: string, message: RegExp): Promise<void> {
  tried++;
  const before = await snapshot();
  const r = await chancery(h.env, ['registry', 'import', file]);
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^chancery: /);
  expect(lines[0]).toMatch(message);
  expect(lines[0]!.length).toBeLessThan(400); // never echoes a megabyte back
  expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  expect(await snapshot()).toBe(before);
  rejected++;
}

beforeAll(async () => {
  // A store holding the 193 Member States, as after a first `registry list`.
  expect((await chancery(h.env, ['registry', 'list'])).code).toBe(0);
});
afterAll(() => {
  recordHostile('registry', tried, rejected, safe);
  h.cleanup();
});

describe('hostile registry files', () => {
  it('CR/LF in a field (header injection into the e-mail) is refused, row and field named', async () => {
    await refused(h.file('crlf-email.csv', csv(row('org:A'), row('org:B', { email: '"desk@example.org\r\nBcc: all@example.net"' }))), /crlf-email\.csv: row 2 \(org:B\), field email_to: is not a valid e-mail address/);
    await refused(h.file('crlf-name.csv', csv(row('org:A', { name: '"Evil\r\nSubject: hijacked"' }))), /crlf-name\.csv: row 1 \(org:A\), field name_en_short: contains a control character/);
  });

  it('a formula (=cmd|...) is stored as text and exported neutralised, and reads back unchanged', async () => {
    tried++;
    const formula = "=cmd|' /C calc'!A0";
    const file = h.file('formula.csv', csv(row('org:F', { line1: `"${formula}"` })));
    const r = await chancery(h.env, ['registry', 'import', file]);
    expect(r.code, r.stderr).toBe(0);
    safe++;
    const out = `${h.home}/export.csv`;
    expect((await chancery(h.env, ['registry', 'export', '--out', out])).code).toBe(0);
    const text = (await import('node:fs')).readFileSync(out, 'utf8');
    // Every cell a spreadsheet would evaluate starts with a quote in the export; none starts with '='.
    expect(text).toContain(`'${formula}`);
    expect(text.split('\n').some((l) => /(^|,)"?=/.test(l))).toBe(false);
    const back = (await parseRegistryFile(out)).find((x) => x.id === 'org:F')!;
    expect(back.address.lines[0]).toBe(formula);
  });

  it('a 1 MB field is refused without echoing it', async () => {
    await refused(h.file('huge-field.csv', csv(row('org:A', { line1: 'x'.repeat(1024 * 1024) }))), /huge-field\.csv: row 1 \(org:A\), field address_line1: is longer than 500 characters/);
  });

  it('Latin-1, UTF-16 with and without a byte-order mark are refused, saying what the file is', async () => {
    const text = csv(row('org:A', { name: 'Côte' }));
    await refused(h.file('latin1.csv', Buffer.from(text, 'latin1')), /latin1\.csv: line 2: is not valid UTF-8 .*save it as UTF-8/);
    await refused(h.file('utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])), /utf16\.csv: is UTF-16/);
    await refused(h.file('utf16be.csv', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()])), /utf16be\.csv: is UTF-16/);
    await refused(h.file('utf16-nobom.csv', Buffer.from(text, 'utf16le')), /utf16-nobom\.csv: line 1: contains a NUL byte/);
  });

  it('a UTF-8 byte-order mark is read as Excel means it', async () => {
    tried++;
    const r = await chancery(h.env, ['registry', 'import', h.file('bom.csv', `\ufeff${csv(row('org:BOM', { name: 'Côte' }))}`)]);
    expect(r.code, r.stderr).toBe(0);
    safe++;
    const db = await openDb(`${h.home}/chancery.db`);
    try {
      expect((await listRecipients(db)).find((x) => x.id === 'org:BOM')?.names.en?.short).toBe('Côte');
    } finally {
      await db.destroy();
    }
  });

  it('duplicate ids, an invalid e-mail, a missing column, an unknown column, an empty file', async () => {
    await refused(h.file('dup.csv', csv(row('org:A'), row('org:B'), row('org:A'))), /dup\.csv: row 3 \(org:A\), field id: duplicates row 1/);
    await refused(h.file('email.csv', csv(row('org:A', { email: 'desk@' }))), /email\.csv: row 1 \(org:A\), field email_to: is not a valid e-mail address/);
    await refused(h.file('missing.csv', `${HEADER.replace(',email_to', '')}\n${row('org:A').replace(/,desk@example\.org$/, '')}\n`), /missing\.csv: header: missing required column "email_to"/);
    await refused(h.file('unknown.csv', `${HEADER},telex\n${row('org:A')},123\n`), /unknown\.csv: header: unknown column "telex"/);
    await refused(h.file('empty.csv', ''), /empty\.csv: is empty/);
    await refused(h.file('empty.json', '[]'), /empty\.json: contains no recipients/);
  });

  it('a JSON record reaching for __proto__ or constructor is refused', async () => {
    const db = await openDb(`${h.home}/chancery.db`);
    const fra = (await listRecipients(db)).find((x) => x.id === 'FRA')!;
    await db.destroy();
    const proto = `[${JSON.stringify(fra).replace(/^\{/, '{"__proto__":{"admin":true},')}]`;
    await refused(h.file('proto.json', proto), /proto\.json: recipients\[0\] \(FRA\), field (record|__proto__): .*(unrecognized|Unrecognized)/i);
    const ctor = `[${JSON.stringify({ ...fra, custom: { constructor: 'x' } })}]`;
    const r = await chancery(h.env, ['registry', 'import', h.file('ctor.json', ctor)]);
    // "constructor" is a legal custom field NAME (letters); it is stored as plain data, never reached through a prototype.
    tried++;
    if (r.code === 0) safe++;
    else rejected++;
    expect([0, 1]).toContain(r.code);
  });

  it('100,000 rows with one bad row near the end: refused as a whole, the bad row named, nothing imported', async () => {
    const rows: string[] = [];
    for (let i = 0; i < 100_000; i++) rows.push(row(`org:X${i}`, i === 99_998 ? { email: 'nobody' } : { email: `desk${i}@example.org` }));
    await refused(h.file('big.csv', csv(...rows)), /big\.csv: row 99999 \(org:X99998\), field email_to: is not a valid e-mail address/);
  });
});
