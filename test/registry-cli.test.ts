import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The command line as a user runs it, in the repository (where seeds/registry.json is). */
const ROOT = path.resolve(import.meta.dirname, '..');
let home: string;

function chancery(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['bin/chancery.js', ...args], {
    cwd: ROOT,
    env: { ...process.env, CHANCERY_HOME: env.CHANCERY_HOME ?? home, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Rows in the store, read with SQLite directly (0 when there is no store yet). */
function storedRows(dir: string): number {
  const file = path.join(dir, 'chancery.db');
  if (!fs.existsSync(file)) return 0;
  const db = new SQLite(file, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM recipients').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-cli-'));
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe('chancery registry', () => {
  it('list loads the shipped registry into an empty store and prints the table', () => {
    const r = chancery(['registry', 'list']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+LANG\s+ADDRESSEE\s+NAME\s+E-MAIL$/);
    expect(r.stdout).toMatch(/^FRA\s+fr\s+permanent-representative\s+France\s+mission\.fra@example\.org$/m);
    expect(r.stdout).toMatch(/^DEU\s+en\s+permanent-mission\s+Germany\s+mission\.deu@example\.org$/m);
    expect(lines.at(-1)).toBe('193 recipients');
    expect(storedRows(home)).toBe(193);

    const json = chancery(['registry', 'list', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toHaveLength(193);
  });

  it('export writes a CSV that imports back unchanged; --dry-run says it wrote nothing', () => {
    const out = path.join(home, 'registry.csv');
    const e = chancery(['registry', 'export', '--format', 'csv', '--out', out]);
    expect(e.code).toBe(0);
    expect(e.stdout).toBe(`${out}: 193 recipients exported (csv)\n`);
    const bytes = fs.readFileSync(out);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);

    const dry = chancery(['registry', 'import', out, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(`${out}: 193 recipients valid; dry run, nothing written (would be 0 added, 0 updated, 193 unchanged)\n`);

    const real = chancery(['registry', 'import', out]);
    expect(real.code).toBe(0);
    expect(real.stdout).toBe(`${out}: 193 recipients imported (0 added, 0 updated, 193 unchanged)\n`);
  });

  it('a dry run on a fresh store writes nothing', () => {
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-cli-fresh-'));
    try {
      const r = chancery(['registry', 'import', 'seeds/registry-sample.csv', '--dry-run'], { CHANCERY_HOME: fresh });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('dry run, nothing written (would be 10 added, 0 updated, 0 unchanged)');
      expect(storedRows(fresh)).toBe(0);
      const real = chancery(['registry', 'import', 'seeds/registry-sample.csv'], { CHANCERY_HOME: fresh });
      expect(real.stdout).toContain('10 recipients imported (10 added, 0 updated, 0 unchanged)');
      expect(storedRows(fresh)).toBe(10);
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('a bad file exits 1 with one line naming file, row and field, and changes nothing', () => {
    const sample = fs.readFileSync(path.join(ROOT, 'seeds/registry-sample.csv'), 'utf8');
    const bad = path.join(home, 'bad.csv');
    // The 6th data row is FRA; break its e-mail address and change a name so an import would show.
    fs.writeFileSync(bad, sample.replace('mission.fra@example.org', 'mission.fra.example.org').replace('Haïti', 'Haiti!'));
    const before = storedRows(home);
    const r = chancery(['registry', 'import', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`chancery: ${bad}: row 6 (FRA), field email_to: is not a valid e-mail address\n`);
    expect(r.stdout).toBe('');
    expect(storedRows(home)).toBe(before);
    const db = new SQLite(path.join(home, 'chancery.db'), { readonly: true });
    const hti = db.prepare("SELECT data FROM recipients WHERE id = 'HTI'").get() as { data: string };
    db.close();
    expect(JSON.parse(hti.data).names.fr.short).toBe('Haïti');
  });

  it('wrong usage exits 2, a missing file 1', () => {
    expect(chancery(['registry', 'export', '--format', 'xml']).code).toBe(2);
    const missing = chancery(['registry', 'import', 'nope.csv']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('chancery: nope.csv: no such file\n');
  });
});
