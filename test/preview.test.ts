import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pdfText } from './helpers/pdf.ts';

/**
 * The merge-core acceptance story, through the command line a secretariat officer uses:
 * import the archived note CU 2009/92 (A), preview France's letter, read the PDF back.
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const SEED_004 = path.resolve(ROOT, 'seeds/archive/004_c09b3555f6de2e03.txt');
const run = promisify(execFile);

let work: string;
let env: NodeJS.ProcessEnv;

async function chancery(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [path.join(ROOT, 'bin/chancery.js'), ...args], { cwd: work, env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The seed's sentences as a reader sees them: Markdown and placeholders gone, whitespace ignored. */
function seedSentences(): string[] {
  const text = fs
    .readFileSync(SEED_004, 'utf8')
    .replace(/\[\\\[\\\[\\\[[^\]\\]+\\\]\\\]\\\]\]\(#\)/g, '\u0000') // placeholders
    .replace(/\*\*/g, '')
    .replace(/\[([^\]]+)\]\(mailto:[^)]+\)/g, '$1')
    .replace(/<(https?:[^>]+)>/g, '$1');
  return text
    .split(/\n\s*\n|\n(?=- )|(?<=[.;:])\s+(?=[A-ZÀ-Ý])/)
    .map((s) => s.replace(/^- /, '').trim())
    .filter((s) => s.length > 0 && !s.includes('\u0000'));
}

const squash = (s: string) => s.replace(/\s+/g, '');

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-preview-'));
  env = { ...process.env, CHANCERY_HOME: path.join(work, 'var'), CHANCERY_TEMPLATES: path.join(work, 'templates'), CHANCERY_REGISTRY: path.join(ROOT, 'seeds/registry.json') };
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('import the archived note, preview France', () => {
  it('gives every sentence of the seed, filled for France, twice byte for byte', async () => {
    const imported = await chancery(['template', 'import', SEED_004, '--id', 'cu-2009-92', '--lang', 'fr']);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    expect(fs.existsSync(path.join(work, 'templates/cu-2009-92.fr.md'))).toBe(true);

    const first = await chancery(['preview', '--template', 'cu-2009-92', '--recipient', 'FRA', '--lang', 'fr', '--out', 'fra.pdf']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const second = await chancery(['preview', '--template', 'cu-2009-92', '--recipient', 'FRA', '--lang', 'fr', '--out', 'fra-again.pdf']);
    expect(second.code).toBe(0);
    const pdf = fs.readFileSync(path.join(work, 'fra.pdf'));
    expect(fs.readFileSync(path.join(work, 'fra-again.pdf')).equals(pdf)).toBe(true);

    const text = await pdfText(pdf);
    // Read as running text: without the page furniture and the address block at the foot of page 1,
    // which pdftotext puts between the last line of page 1 and the first of page 2.
    const address = ['Mission permanente de la France', 'Jaurèsgasse 34', 'Stiege 2, 2. Stock', 'Vienne 1030', 'Autriche'];
    const flat = squash(
      text
        .split('\n')
        .filter((l) => !address.includes(l.trim()) && !/^-\s*\d+\s*-$/.test(l.trim()))
        .join('\n'),
    );
    const sentences = seedSentences();
    expect(sentences.length).toBeGreaterThan(18);
    const missing = sentences.filter((s) => !flat.includes(squash(s)));
    expect(missing).toEqual([]);
    // The placeholders, filled with France's reviewed forms.
    expect(text.replace(/\s+/g, ' ')).toContain(
      "présente ses compliments au Représentant permanent de la France auprès de l'Organisation des Nations Unies (Vienne) et a l'honneur",
    );
    for (const line of ['Mission permanente de la France', 'Jaurèsgasse 34', 'Stiege 2, 2. Stock', 'Vienne 1030', 'Autriche']) expect(text).toContain(line);
    expect(text).toContain("d'ici au 31 juillet 2009");
    expect(text).toContain('Le 8 juillet 2009');
    expect(text).toContain('Référence: CU 2009/92 (A)');
    expect(text).not.toContain('[[[');
    expect(text).not.toContain('{{');
  });

  it('puts the addressee block at the foot of page 1 (checked on the rendered image)', async () => {
    const pdf = path.join(work, 'fra.pdf');
    // Page 1 as a grey image: the lowest inked rows must belong to the address block, flush left.
    const { stdout } = await run('pdftoppm', ['-gray', '-r', '36', '-f', '1', '-l', '1', pdf], { encoding: 'latin1', maxBuffer: 1 << 24 });
    const { width, height, pixels } = parsePgm(Buffer.from(stdout, 'latin1'));
    const inked = (y: number, x0: number, x1: number) => {
      for (let x = x0; x < x1; x++) if (pixels[y * width + x]! < 128) return true;
      return false;
    };
    let lowest = -1;
    for (let y = height - 1; y >= 0 && lowest < 0; y--) if (inked(y, 0, width)) lowest = y;
    expect(lowest).toBeGreaterThan(height * 0.8); // the block sits in the bottom fifth of the page
    // The address lines start at the left margin and stop well before the right margin.
    const rows = Array.from({ length: Math.round(height * 0.12) }, (_, i) => lowest - i);
    expect(rows.some((y) => inked(y, Math.round(width * 0.08), Math.round(width * 0.16)))).toBe(true);
    expect(rows.some((y) => inked(y, Math.round(width * 0.7), width))).toBe(false);
    // And the address is on page 1 only.
    const page1 = await run('pdftotext', ['-f', '1', '-l', '1', pdf, '-']);
    const rest = await run('pdftotext', ['-f', '2', pdf, '-']);
    expect(page1.stdout).toContain('Jaurèsgasse 34');
    expect(rest.stdout).not.toContain('Jaurèsgasse 34');
  });

  it('refuses a recipient lacking a field the note needs, naming it, and writes nothing', async () => {
    // An English-speaking State has no reviewed French title in this registry copy.
    const registry = JSON.parse(fs.readFileSync(path.join(ROOT, 'seeds/registry.json'), 'utf8')) as { id: string; titles: Record<string, unknown> }[];
    const gbr = registry.find((r) => r.id === 'GBR')!;
    delete gbr.titles.fr;
    const file = path.join(work, 'registry-no-fr-title.json');
    fs.writeFileSync(file, JSON.stringify(registry));
    const home = path.join(work, 'var-gap');
    const saved = env;
    env = { ...env, CHANCERY_REGISTRY: file, CHANCERY_HOME: home };
    try {
      const r = await chancery(['preview', '--template', 'cu-2009-92', '--recipient', 'GBR', '--lang', 'fr', '--out', 'gbr.pdf']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/FunctionalTitle2Dative/);
      expect(r.stderr).toMatch(/GBR/);
      expect(fs.existsSync(path.join(work, 'gbr.pdf'))).toBe(false);
    } finally {
      env = saved;
    }
  });

  it('refuses a template naming an unknown field, with its line, and writes nothing', async () => {
    const tpl = path.join(work, 'templates/cu-2009-92.fr.md');
    const good = fs.readFileSync(tpl, 'utf8');
    fs.writeFileSync(tpl, good.replace('[[[CountryAddressName]]]', '[[[CountryAdressName]]]'));
    try {
      const r = await chancery(['preview', '--template', 'cu-2009-92', '--recipient', 'FRA', '--lang', 'fr', '--out', 'bad.pdf']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cu-2009-92\.fr\.md: line \d+: unknown field "CountryAdressName"/);
      expect(fs.existsSync(path.join(work, 'bad.pdf'))).toBe(false);
    } finally {
      fs.writeFileSync(tpl, good);
    }
  });
});

function parsePgm(buf: Buffer): { width: number; height: number; pixels: Buffer } {
  // P5 <w> <h> <max>\n<bytes>
  const header = buf.subarray(0, 64).toString('latin1');
  const m = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(header);
  if (!m) throw new Error('pdftoppm did not give a PGM image');
  const width = Number(m[1]);
  const height = Number(m[2]);
  return { width, height, pixels: buf.subarray(m[0].length, m[0].length + width * height) };
}
