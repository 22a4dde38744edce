import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.ts';
import {
  ensureRegistryLoaded,
  exportRecipients,
  getRecipient,
  importRecipients,
  listRecipients,
  parseRegistryFile,
  recipientFingerprint,
  selectAudience,
  type Recipient,
} from '../src/registry/index.ts';
import { openDb, type Db } from '../src/store/db.ts';
import { freshStore, TEST_ENGINE } from './helpers/engines.ts';

const SEEDS = path.resolve('seeds/registry.json');
let tmp: string;
let seeds: Recipient[];
const byId = (id: string): Recipient => {
  const r = seeds.find((s) => s.id === id);
  if (!r) throw new Error(`no ${id} in the seeds`);
  return r;
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-registry-'));
  seeds = await parseRegistryFile(SEEDS);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let dbCount = 0;
async function freshDb(): Promise<Db> {
  return openDb(await freshStore(tmp, `store-${++dbCount}.db`));
}

function write(name: string, content: string | Uint8Array): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content);
  return file;
}

describe('the shipped registry (seeds/registry.json)', () => {
  it('holds the 193 Member States, once each, as valid records', () => {
    expect(seeds).toHaveLength(193);
    expect(new Set(seeds.map((r) => r.id)).size).toBe(193);
    for (const r of seeds) {
      expect(r.kind).toBe('state');
      expect(r.id).toMatch(/^[A-Z]{3}$/);
      expect(r.groups).toEqual(['member-states']);
      expect(['en', 'fr']).toContain(r.language);
      expect(r.names.en).toBeDefined();
      expect(r.names.fr).toBeDefined();
      expect(r.sampleAddress).toBe(true);
      for (const e of [...r.email.to, ...r.email.cc]) expect(e).toMatch(/@example\.org$/);
    }
  });

  it.each([
    ['FRA', 'France', 'la France', 'de la France'],
    ['BRA', 'Brésil', 'le Brésil', 'du Brésil'],
    ['PHL', 'Philippines', 'les Philippines', 'des Philippines'],
    ['DEU', 'Allemagne', "l'Allemagne", "de l'Allemagne"],
    ['HTI', 'Haïti', 'Haïti', "d'Haïti"],
    ['CUB', 'Cuba', 'Cuba', 'de Cuba'],
    ['NLD', 'Pays-Bas (Royaume des)', 'le Royaume des Pays-Bas', 'du Royaume des Pays-Bas'],
    ['IRN', "Iran (République islamique d')", "la République islamique d'Iran", "de la République islamique d'Iran"],
    ['BOL', 'Bolivie (État plurinational de)', "l'État plurinational de Bolivie", "de l'État plurinational de Bolivie"],
  ])('%s has the reviewed French forms', (id, short, running, of) => {
    expect(byId(id).names.fr).toEqual({ short, running, of });
  });

  it.each([
    ['PHL', 'Philippines', 'the Philippines', 'of the Philippines'],
    ['NER', 'Niger', 'the Niger', 'of the Niger'],
    ['GMB', 'Gambia', 'the Gambia', 'of the Gambia'],
    ['NLD', 'Netherlands (Kingdom of the)', 'the Kingdom of the Netherlands', 'of the Kingdom of the Netherlands'],
    ['FRA', 'France', 'France', 'of France'],
  ])('%s has the English forms', (id, short, running, of) => {
    expect(byId(id).names.en).toEqual({ short, running, of });
  });

  it('uses the UN short names, not everyday ones', () => {
    const names = (id: string) => [byId(id).names.en!.short, byId(id).names.fr!.short];
    expect(names('KOR')).toEqual(['Republic of Korea', 'République de Corée']);
    expect(names('RUS')).toEqual(['Russian Federation', 'Fédération de Russie']);
    expect(names('IRQ')).toEqual(['Iraq', 'Iraq']);
    expect(names('CPV')).toEqual(['Cabo Verde', 'Cabo Verde']);
    expect(names('TUR')).toEqual(['Türkiye', 'Türkiye']);
    expect(names('VNM')).toEqual(['Viet Nam', 'Viet Nam']);
    expect(names('MDA')).toEqual(['Republic of Moldova', 'République de Moldova']);
    expect(names('BLR')).toEqual(['Belarus', 'Bélarus']);
    expect(names('TLS')).toEqual(['Timor-Leste', 'Timor-Leste']);
    expect(names('SWZ')).toEqual(['Eswatini', 'Eswatini']);
    expect(names('CZE')).toEqual(['Czechia', 'Tchéquie']);
  });

  it('has every French "de" form agree with its running form', () => {
    for (const r of seeds) {
      const { running, of } = r.names.fr!;
      const expected = running.startsWith('le ')
        ? `du ${running.slice(3)}`
        : running.startsWith('les ')
          ? `des ${running.slice(4)}`
          : running.startsWith('la ') || running.startsWith("l'")
            ? `de ${running}`
            : /^[AEIOUHÉ]/.test(running)
              ? `d'${running}`
              : `de ${running}`;
      expect(of, r.id).toBe(expected);
      expect(r.names.en!.of, r.id).toBe(`of ${r.names.en!.running}`);
    }
  });

  it('has titles built on the "of" forms, with datives that include the preposition', () => {
    for (const r of seeds) {
      const fr = r.titles.fr!;
      const en = r.titles.en!;
      expect(fr.title, r.id).toContain(` ${r.names.fr!.of} auprès de l'Organisation des Nations Unies (Vienne)`);
      expect(fr.dative, r.id).toBe(`${fr.gender === 'm' ? 'au' : 'à la'} ${fr.title}`);
      expect(en.title, r.id).toContain(` ${r.names.en!.of} to the United Nations (Vienna)`);
      expect(en.dative, r.id).toBe(`to the ${en.title}`);
    }
  });

  it('mixes addressees: Permanent Representatives (some women), chargés d’affaires a.i., Permanent Missions', () => {
    expect(byId('FRA').titles.fr).toMatchObject({
      title: "Représentant permanent de la France auprès de l'Organisation des Nations Unies (Vienne)",
      dative: "au Représentant permanent de la France auprès de l'Organisation des Nations Unies (Vienne)",
      gender: 'm',
    });
    expect(byId('BRA').addresseeType).toBe('charge-d-affaires-ai');
    expect(byId('BRA').titles.fr).toMatchObject({
      dative: "au Chargé d'affaires par intérim du Brésil auprès de l'Organisation des Nations Unies (Vienne)",
      gender: 'm',
    });
    expect(byId('PHL').titles.fr!.dative).toBe(
      "à la Représentante permanente des Philippines auprès de l'Organisation des Nations Unies (Vienne)",
    );
    expect(byId('PHL').titles.en!.dative).toBe('to the Permanent Representative of the Philippines to the United Nations (Vienna)');
    expect(byId('DEU').addresseeType).toBe('permanent-mission');
    expect(byId('DEU').titles.fr!.dative).toBe("à la Mission permanente de l'Allemagne auprès de l'Organisation des Nations Unies (Vienne)");
    expect(byId('HTI').titles.fr!.dative).toBe("au Représentant permanent d'Haïti auprès de l'Organisation des Nations Unies (Vienne)");
    expect(byId('NLD').titles.fr!.dative).toBe(
      "au Représentant permanent du Royaume des Pays-Bas auprès de l'Organisation des Nations Unies (Vienne)",
    );

    const prs = seeds.filter((r) => r.addresseeType === 'permanent-representative');
    const women = prs.filter((r) => r.titles.fr!.gender === 'f');
    expect(women.length / prs.length).toBeGreaterThan(0.25);
    expect(women.every((r) => r.titles.fr!.title.startsWith('Représentante permanente '))).toBe(true);
    expect(seeds.filter((r) => r.addresseeType === 'charge-d-affaires-ai').length).toBeGreaterThanOrEqual(8);
    expect(seeds.filter((r) => r.addresseeType === 'permanent-mission').length).toBeGreaterThanOrEqual(8);
    expect(byId('FRA').language).toBe('fr');
    expect(byId('DEU').language).toBe('en');
  });

  it('has Vienna addresses, a few elsewhere, some with an empty third line', () => {
    expect(byId('FRA').address).toMatchObject({ city: 'Vienne', country: { en: 'Austria', fr: 'Autriche' } });
    expect(byId('PHL').address.city).toBe('Vienna');
    const elsewhere = seeds.filter((r) => r.address.country.en !== 'Austria');
    expect(elsewhere.length).toBeGreaterThanOrEqual(5);
    expect(byId('COM').address).toMatchObject({ city: 'Genève', country: { fr: 'Suisse' } });
    expect(seeds.every((r) => r.address.lines.length === 3)).toBe(true);
    expect(seeds.some((r) => r.address.lines[2] === '')).toBe(true);
    expect(seeds.some((r) => r.address.lines[2] !== '')).toBe(true);
  });
});

/** A CSV of the given recipients with one cell replaced: the way a user breaks a file. */
function csvWith(recipients: Recipient[], edit: (lines: string[]) => void): string {
  const lines = exportRecipients(recipients, 'csv').trimEnd().split('\n');
  edit(lines);
  return `${lines.join('\n')}\n`;
}

describe('CSV and JSON files', () => {
  it('round-trips the whole registry through CSV and JSON', async () => {
    const csv = write('all.csv', exportRecipients(seeds, 'csv'));
    expect(await parseRegistryFile(csv)).toEqual(seeds);
    const json = write('all.json', exportRecipients(seeds, 'json'));
    expect(await parseRegistryFile(json)).toEqual(seeds);
    // The shipped JSON is exactly what an export of it writes.
    expect(exportRecipients(seeds, 'json')).toBe(fs.readFileSync(SEEDS, 'utf8'));
  });

  it('round-trips organizations, other languages, custom fields, lists and formula-like cells', async () => {
    const org: Recipient = {
      ...byId('FRA'),
      id: 'org:EU',
      kind: 'organization',
      groups: ['observers', 'cop-bureau'],
      language: 'es',
      names: { ...byId('FRA').names, es: { short: 'Unión Europea', running: 'la Unión Europea', of: 'de la Unión Europea' } },
      addresseeType: 'permanent-observer',
      titles: {
        es: { title: 'Observador Permanente de la Unión Europea', dative: 'al Observador Permanente de la Unión Europea', gender: 'm', number: 'sg' },
      },
      address: { lines: ['Delegación de la Unión Europea', '=cmd|calc', ''], city: 'Viena', postalCode: '1040', country: { es: 'Austria' } },
      email: { to: ['a@example.org', 'b@example.org'], cc: ['-c@example.org'] },
      fax: '+43 1 505 84 11',
      custom: { Salutation: '@Excellency', 'Desk officer': "'=already quoted", Note: 'plain' },
    };
    const csvText = exportRecipients([org, byId('HTI')], 'csv');
    // Neutralised for spreadsheets, on export only.
    expect(csvText).toContain(",'+43 1 505 84 11,");
    expect(csvText).toContain(",'=cmd|calc,");
    expect(csvText).toContain(",'@Excellency");
    expect(csvText).toContain(",''=already quoted");
    expect(csvText.split('\n')[0]).toContain('name_es_short');
    expect(csvText.split('\n')[0]).toContain('custom_Desk officer');
    const back = await parseRegistryFile(write('org.csv', csvText));
    expect(back).toEqual([org, byId('HTI')]);
    // JSON is not a spreadsheet: nothing to neutralise there.
    expect(exportRecipients([org], 'json')).toContain('"fax": "+43 1 505 84 11"');
  });

  it('reads a CSV saved by Excel: UTF-8 byte-order mark, CRLF, columns in another order, TRUE', async () => {
    const text = [
      'email_to,id,kind,language,addressee_type,name_fr_short,name_fr_running,name_fr_of,title_fr,title_fr_dative,title_fr_gender,address_line1,city,sample_address',
      "mission.fra@example.org; protocol.fra@example.org,FRA,state,fr,permanent-representative,France,la France,de la France,Représentant permanent de la France,au Représentant permanent de la France,m,Mission permanente de la France,Vienne,TRUE",
    ].join('\r\n');
    const [r] = await parseRegistryFile(write('excel.csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${text}\r\n`)])));
    expect(r).toMatchObject({
      id: 'FRA',
      email: { to: ['mission.fra@example.org', 'protocol.fra@example.org'], cc: [] },
      titles: { fr: { number: 'sg' } },
      address: { lines: ['Mission permanente de la France', '', ''], postalCode: '', country: {} },
      sampleAddress: true,
    });
  });
});

describe('refusing a bad file, with the store left as it was', () => {
  let db: Db;
  const three = () => [byId('BRA'), byId('DEU'), byId('FRA')];

  beforeAll(async () => {
    db = await freshDb();
    await ensureRegistryLoaded(db, SEEDS);
  });
  afterAll(async () => db.destroy());

  async function snapshot(): Promise<string> {
    const rows = await db.selectFrom('recipients').selectAll().orderBy('id').execute();
    return JSON.stringify(rows);
  }

  /** Parses and imports `file`; expects exactly `message` and no change in the store. */
  async function expectRefused(file: string, message: string | RegExp): Promise<void> {
    const before = await snapshot();
    const n = (await listRecipients(db)).length;
    let error: unknown;
    try {
      await importRecipients(db, await parseRegistryFile(file));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InputError);
    const msg = (error as Error).message;
    expect(msg).not.toContain('\n');
    if (typeof message === 'string') expect(msg).toBe(message);
    else expect(msg).toMatch(message);
    expect((await listRecipients(db)).length).toBe(n);
    expect(await snapshot()).toBe(before);
  }

  it('an invalid e-mail address: row and field named', async () => {
    const file = write('bad-email.csv', csvWith([byId('AUT'), ...three()], (l) => (l[4] = l[4]!.replace('mission.fra@example.org', 'mission.fra@'))));
    await expectRefused(file, `${file}: row 4 (FRA), field email_to: is not a valid e-mail address`);
  });

  it('an unknown column', async () => {
    const file = write('unknown-col.csv', csvWith(three(), (l) => (l[0] = l[0]!.replace('fax', 'telefax'))));
    await expectRefused(file, `${file}: header: unknown column "telefax"`);
  });

  it('a missing required column', async () => {
    const file = write('missing-col.csv', 'id,kind,language,addressee_type,address_line1,city\nFRA,state,fr,permanent-mission,x,Vienne\n');
    await expectRefused(file, `${file}: header: missing required column "email_to"`);
  });

  it('half of a language set of columns', async () => {
    const file = write('half-names.csv', 'id,kind,language,addressee_type,address_line1,city,email_to,name_fr_short\nFRA,state,fr,permanent-mission,x,Vienne,a@example.org,France\n');
    await expectRefused(file, `${file}: header: column "name_fr_short" needs column "name_fr_running" too`);
  });

  it('a duplicate id', async () => {
    const file = write('dup.csv', exportRecipients([byId('BRA'), byId('FRA'), byId('FRA')], 'csv'));
    await expectRefused(file, `${file}: row 3 (FRA), field id: duplicates row 2`);
  });

  it('a line break inside a quoted field', async () => {
    const file = write('crlf.csv', csvWith(three(), (l) => (l[2] = l[2]!.replace(',Permanent Mission of Germany,', ',"Permanent Mission\r\nof Germany",'))));
    await expectRefused(file, `${file}: row 2 (DEU), field address_line1: contains a control character (U+000D)`);
  });

  it('a missing name in the language of correspondence', async () => {
    const fra = byId('FRA');
    const file = write('no-fr.json', JSON.stringify([{ ...fra, names: { en: fra.names.en } }]));
    await expectRefused(file, `${file}: recipients[0] (FRA), field names.fr: is missing (the correspondence language)`);
  });

  it('a bad value in a JSON record, and several problems at once', async () => {
    const recs = three().map((r) => ({ ...r, addresseeType: r.id === 'BRA' ? 'ambassador' : r.addresseeType, email: { ...r.email, to: r.id === 'FRA' ? ['x'] : r.email.to } }));
    const file = write('bad.json', JSON.stringify(recs));
    await expectRefused(file, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: recipients\\[0\\] \\(BRA\\), field addresseeType: .+ \\(and 1 more problem\\)$`));
  });

  it('an id with a line break is quoted, so the message stays on one line', async () => {
    const file = write('id-lf.json', JSON.stringify([{ ...byId('FRA'), id: 'FR\nA' }]));
    await expectRefused(file, `${file}: recipients[0] ("FR\\nA"), field id: must be an ISO 3166-1 alpha-3 code (FRA) or org:NAME`);
  });

  it('a row with more cells than the header', async () => {
    const file = write('width.csv', csvWith(three(), (l) => (l[2] = `${l[2]},extra`)));
    await expectRefused(file, /: line 3: has \d+ fields, the header has \d+$/);
  });

  it('sample_address that is not a boolean', async () => {
    const file = write('bool.csv', csvWith(three(), (l) => (l[1] = l[1]!.replace(/,true$/, ',yes'))));
    await expectRefused(file, `${file}: row 1 (BRA), field sample_address: must be true or false`);
  });

  it('an empty file, a header alone, an empty JSON array, broken JSON', async () => {
    const empty = write('empty.csv', '');
    await expectRefused(empty, `${empty}: is empty`);
    const blank = write('blank.json', '\ufeff  \n');
    await expectRefused(blank, `${blank}: is empty`);
    const header = write('header.csv', exportRecipients(three(), 'csv').split('\n')[0]! + '\n');
    await expectRefused(header, `${header}: has a header but no data rows`);
    const none = write('none.json', '[]');
    await expectRefused(none, `${none}: contains no recipients`);
    const broken = write('broken.json', '[{"id": "FRA",');
    await expectRefused(broken, new RegExp(`broken\\.json: is not valid JSON: `));
    const obj = write('obj.json', '{"FRA": {}}');
    await expectRefused(obj, `${obj}: must hold a JSON array of recipients`);
  });

  it('a Windows-1252 (Latin-1) file and a UTF-16 file: said so', async () => {
    const utf8 = exportRecipients(three(), 'csv');
    // "Brésil" in Windows-1252: é is the single byte 0xE9.
    const latin1 = write('latin1.csv', Buffer.from(utf8, 'latin1'));
    await expectRefused(latin1, new RegExp(`latin1\\.csv: line 2: is not valid UTF-8 \\(byte 0xE9 at offset \\d+\\); save it as UTF-8$`));
    const utf16 = write('utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(utf8, 'utf16le')]));
    await expectRefused(utf16, `${utf16}: is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8`);
    const utf16nobom = write('utf16-nobom.csv', Buffer.from(utf8, 'utf16le'));
    await expectRefused(utf16nobom, /utf16-nobom\.csv: line 1: contains a NUL byte/);
  });

  it('an unknown extension or a missing file', async () => {
    const xlsx = write('registry.xlsx', 'PK');
    await expectRefused(xlsx, `${xlsx}: unknown registry format ".xlsx" (expected .csv or .json)`);
    await expectRefused(path.join(tmp, 'nope.csv'), /nope\.csv: no such file$/);
  });
});

describe('the store', () => {
  it('imports, counts added / updated / unchanged, and keeps the fingerprint in data_sha256', async () => {
    const db = await freshDb();
    try {
      const first = await importRecipients(db, [byId('FRA'), byId('DEU')]);
      expect(first).toEqual({ added: 2, updated: 0, unchanged: 0 });
      const fra2 = { ...byId('FRA'), email: { to: ['new.fra@example.org'], cc: [] } };
      const second = await importRecipients(db, [fra2, byId('DEU'), byId('BRA')]);
      expect(second).toEqual({ added: 1, updated: 1, unchanged: 1 });
      expect((await getRecipient(db, 'FRA'))?.email.to).toEqual(['new.fra@example.org']);
      expect(await getRecipient(db, 'XYZ')).toBeUndefined();
      expect((await listRecipients(db)).map((r) => r.id)).toEqual(['BRA', 'DEU', 'FRA']);

      const row = await db.selectFrom('recipients').selectAll().where('id', '=', 'FRA').executeTakeFirstOrThrow();
      expect(row.data_sha256).toBe(recipientFingerprint(fra2));
      expect(row.data_sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.parse(row.data)).toEqual(fra2);
    } finally {
      await db.destroy();
    }
  });

  it('fingerprints the content, not the order of keys or a missing third address line', () => {
    const fra = byId('FRA');
    const reordered = Object.fromEntries(Object.entries(fra).reverse()) as Recipient;
    expect(recipientFingerprint(reordered)).toBe(recipientFingerprint(fra));
    const short = seeds.find((r) => r.address.lines[2] === '')!;
    const twoLines = { ...short, address: { ...short.address, lines: short.address.lines.slice(0, 2) } };
    expect(recipientFingerprint(twoLines)).toBe(recipientFingerprint(short));
    expect(recipientFingerprint({ ...fra, fax: '1' })).not.toBe(recipientFingerprint(fra));
  });

  it('a dry run counts and writes nothing', async () => {
    const db = await freshDb();
    try {
      await importRecipients(db, [byId('FRA')]);
      const r = await importRecipients(db, [{ ...byId('FRA'), fax: '+43 1 000' }, byId('DEU')], { dryRun: true });
      expect(r).toEqual({ added: 1, updated: 1, unchanged: 0 });
      expect((await listRecipients(db)).map((x) => x.id)).toEqual(['FRA']);
      expect((await getRecipient(db, 'FRA'))?.fax).toBeUndefined();
    } finally {
      await db.destroy();
    }
  });

  it('all rows or none: a failure in the middle of writing rolls back the rows already written', async () => {
    const db = await freshDb();
    try {
      await importRecipients(db, [byId('FRA')]);
      // The database refuses the update of FRA, which comes after the inserts of BRA and DEU.
      if (TEST_ENGINE === 'sqlite') await sql`CREATE TRIGGER refuse_fra BEFORE UPDATE ON recipients WHEN NEW.id = 'FRA' BEGIN SELECT RAISE(ABORT, 'refused'); END`.execute(db);
      else {
        await sql`CREATE FUNCTION refuse_fra() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$`.execute(db);
        await sql`CREATE TRIGGER refuse_fra BEFORE UPDATE ON recipients FOR EACH ROW WHEN (NEW.id = 'FRA') EXECUTE FUNCTION refuse_fra()`.execute(db);
      }
      await expect(importRecipients(db, [byId('BRA'), byId('DEU'), { ...byId('FRA'), fax: '1' }])).rejects.toThrow(/refused/);
      expect((await listRecipients(db)).map((x) => x.id)).toEqual(['FRA']);
    } finally {
      await db.destroy();
    }
  });

  it('refuses an invalid record or a duplicate id given in code, writing nothing', async () => {
    const db = await freshDb();
    try {
      const bad = { ...byId('DEU'), email: { to: ['not an address'], cc: [] } };
      await expect(importRecipients(db, [byId('FRA'), bad])).rejects.toThrow('recipients[1] (DEU), field email.to.0: is not a valid e-mail address');
      await expect(importRecipients(db, [byId('FRA'), byId('FRA')])).rejects.toThrow('recipients: id FRA appears twice');
      expect(await listRecipients(db)).toEqual([]);
    } finally {
      await db.destroy();
    }
  });

  it('loads the shipped registry into an empty store only', async () => {
    const db = await freshDb();
    try {
      await ensureRegistryLoaded(db, SEEDS);
      expect(await listRecipients(db)).toEqual([...seeds].sort((a, b) => (a.id < b.id ? -1 : 1)));
      const other = await freshDb();
      try {
        await importRecipients(other, [byId('FRA')]);
        await ensureRegistryLoaded(other, SEEDS);
        expect((await listRecipients(other)).length).toBe(1);
      } finally {
        await other.destroy();
      }
    } finally {
      await db.destroy();
    }
  });

  it('selects an audience: all, a group, a list of ids; unknown ids named', async () => {
    const db = await freshDb();
    try {
      await ensureRegistryLoaded(db, SEEDS);
      await importRecipients(db, [{ ...byId('FRA'), groups: ['member-states', 'cop-bureau'] }, { ...byId('PHL'), groups: ['member-states', 'cop-bureau'] }]);
      expect(await selectAudience(db, 'all')).toHaveLength(193);
      expect(await selectAudience(db, 'group:member-states')).toHaveLength(193);
      expect((await selectAudience(db, 'group:cop-bureau')).map((r) => r.id)).toEqual(['FRA', 'PHL']);
      expect((await selectAudience(db, 'FRA, deu,FRA')).map((r) => r.id)).toEqual(['DEU', 'FRA']);
      await expect(selectAudience(db, 'FRA,XXX,org:Nobody')).rejects.toThrow('audience: unknown recipient ids: XXX, org:Nobody');
      await expect(selectAudience(db, 'group:nobody')).rejects.toThrow(InputError);
      await expect(selectAudience(db, ' ')).rejects.toThrow(InputError);
    } finally {
      await db.destroy();
    }
  });
});

describe('importing while another process writes to the store', () => {
  // SQLite's file lock, held by another process; PostgreSQL's advisory lock: test/store-postgres.test.ts.
  it.skipIf(TEST_ENGINE === 'postgres')('waits for the write lock another process holds, then imports everything', async () => {
    const db = await freshDb();
    const file = path.join(tmp, `store-${dbCount}.db`);
    try {
      await importRecipients(db, seeds.slice(0, 3));
      // Another process takes the write lock and keeps it half a second, as a worker's batch does.
      // A deferred transaction (read, then write) was refused at once: "database is locked".
      const holder = spawn(process.execPath, ['-e', "const d = new (require('better-sqlite3'))(process.argv[1]); d.exec('BEGIN IMMEDIATE'); console.log('locked'); setTimeout(() => { d.exec('ROLLBACK'); d.close(); }, 500);", file], {
        cwd: path.resolve('.'),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<number | null>((resolve) => holder.on('exit', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        holder.on('exit', () => reject(new Error('the lock holder exited before taking the lock')));
      });
      const began = Date.now();
      const result = await importRecipients(db, seeds);
      expect(Date.now() - began).toBeGreaterThan(100); // it did wait for the other process
      expect(result).toEqual({ added: 190, updated: 0, unchanged: 3 });
      expect((await listRecipients(db)).map((r) => r.id)).toEqual(seeds.map((r) => r.id).sort());
      expect(await exited).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});
