import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MergedDocument, RenderedDocument, Run } from '../src/document/model.ts';
import { renderDocument } from '../src/render/index.ts';
import { breakLines, wordsFromRuns } from '../src/render/linebreak.ts';
import { agendaDocument, franceNote, namesNote } from './render-fixtures.ts';

const ROOT = resolve(import.meta.dirname, '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const dir = mkdtempSync(join(tmpdir(), 'chancery-render-'));
let seq = 0;

function save(r: RenderedDocument): string {
  const file = join(dir, `doc-${++seq}.pdf`);
  writeFileSync(file, r.bytes);
  return file;
}

/** pdftotext output, whitespace collapsed (what a reader copying the text would get). */
function text(file: string, page?: number): string {
  const range = page === undefined ? [] : ['-f', String(page), '-l', String(page)];
  return execFileSync('pdftotext', [...range, file, '-'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
}

interface BoxWord {
  word: string;
  xMin: number;
  yMin: number;
}

function words(file: string, page: number): { height: number; words: BoxWord[] } {
  const html = execFileSync('pdftotext', ['-bbox', '-f', String(page), '-l', String(page), file, '-'], { encoding: 'utf8' });
  const height = Number(/<page width="[\d.]+" height="([\d.]+)"/.exec(html)?.[1]);
  const list = [...html.matchAll(/<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="[\d.]+" yMax="[\d.]+">([^<]*)<\/word>/g)].map((m) => ({
    word: m[3]!.replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'),
    xMin: Number(m[1]),
    yMin: Number(m[2]),
  }));
  return { height, words: list };
}

const MARGIN = (2.5 * 72) / 2.54;

describe('note verbale (seed 004, France)', () => {
  let rendered: RenderedDocument;
  let file: string;
  beforeAll(async () => {
    rendered = await renderDocument(franceNote());
    file = save(rendered);
  });

  it('keeps every sentence with its accents and the spaces around bold runs', () => {
    const all = text(file);
    expect(all).toContain('Référence: CU 2009/92 (A)');
    expect(all).toContain("Le Secrétaire général de l'Organisation des Nations Unies présente ses compliments au Représentant permanent de la France");
    expect(all).toContain('tiendra une deuxième réunion à Vienne (Autriche) du 27 au 29 janvier 2010.');
    expect(all).toContain('En outre, le Gouvernement est cordialement invité à proposer des sujets de discussion pour cette deuxième réunion. Le Bureau examinera');
    expect(all).toContain("soit envoyée d'ici au 31 juillet 2009 au secrétariat de la Conférence des Parties");
    expect(all).toContain('courriel: untoc.cop@unodc.org.');
    expect(all).toContain("i) Faciliter l'application du Protocole");
    expect(all).toContain('iv) Faire des recommandations');
    expect(all).toContain('a) La législation nationale');
    expect(all).toContain('h) La gestion des affaires dans les enquêtes et poursuites concernant la traite des êtres humains.');
    expect(all).toContain('Le 8 juillet 2009');
    expect(all).not.toMatch(/outre,le|invité à proposer des sujets de discussion pour cette deuxième réunion\.Le|envoyéed'ici|2009au/);
  });

  it('has at least two pages, the addressee on page 1 only', () => {
    expect(rendered.pages).toBeGreaterThanOrEqual(2);
    const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
    expect(info).toMatch(new RegExp(`Pages:\\s+${rendered.pages}\\b`));
    expect(info).toMatch(/Page size:\s+595\.\d+ x 841\.\d+/);
    const p1 = text(file, 1);
    const p2 = text(file, 2);
    for (const line of ['Schwarzenbergplatz 16', '1010 Vienne', "Mission permanente de la France auprès de l'Organisation des Nations Unies (Vienne)"]) {
      expect(p1).toContain(line);
      expect(p2).not.toContain(line);
    }
  });

  it('sets the addressee block flush left in the bottom quarter of page 1', () => {
    const { height, words: list } = words(file, 1);
    const body = list.filter((w) => w.word === 'Référence:');
    expect(body[0]!.yMin).toBeLessThan(height / 4);
    for (const name of ['Mission', 'Schwarzenbergplatz', '1010', 'Autriche']) {
      const w = list.find((x) => x.word === name);
      expect(w, name).toBeDefined();
      expect(w!.yMin).toBeGreaterThan(height * 0.75);
      expect(Math.abs(w!.xMin - MARGIN)).toBeLessThan(2);
    }
  });

  it('numbers continuation pages only', () => {
    expect(text(file, 1)).not.toMatch(/- ?1 ?-/);
    for (let page = 2; page <= rendered.pages; page++) {
      const { words: list } = words(file, page);
      const top = list.filter((w) => w.yMin < MARGIN - 12).map((w) => w.word).join(' ');
      expect(top.replace(/\s/g, '')).toBe(`-${page}-`);
    }
  });

  it('renders page 1 to PNG for a look (test-artifacts/note-verbale-page1.png)', () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    execFileSync('pdftoppm', ['-r', '50', '-f', '1', '-l', '1', '-png', '-singlefile', file, join(ARTIFACTS, 'note-verbale-page1')]);
    writeFileSync(join(ARTIFACTS, 'note-verbale.pdf'), rendered.bytes);
  });

  it('is deterministic within a process and across processes', async () => {
    const again = await renderDocument(franceNote());
    expect(again.sha256).toBe(rendered.sha256);
    expect(Buffer.compare(again.bytes, rendered.bytes)).toBe(0);
    const script = join(dir, 'child.mts');
    writeFileSync(
      script,
      `import { renderDocument } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/render/index.ts')).href)};
import { franceNote } from ${JSON.stringify(pathToFileURL(join(ROOT, 'test/render-fixtures.ts')).href)};
process.stdout.write((await renderDocument(franceNote())).sha256);
`,
    );
    const child = execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8' });
    expect(child.trim()).toBe(rendered.sha256);
  });

  it('writes fixed metadata', () => {
    const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
    expect(info).toMatch(/Title:\s+CU 2009\/92 \(A\)/);
    expect(info).toMatch(/Producer:\s+Chancery/);
    expect(info).toMatch(/CreationDate:.*2000/);
  });
});

describe('non-Latin names and odd input', () => {
  it('keeps Łódź, Hà Nội and Москва in every face and in footnotes', async () => {
    const r = await renderDocument(namesNote());
    const all = text(save(r));
    expect(all).toContain('Villes: Łódź, Hà Nội, Москва et Žilina');
    expect(all).toContain('90-001 Łódź');
    expect(all).toContain('Note de bas de page avec Москва.');
    const fonts = execFileSync('pdffonts', [save(r)], { encoding: 'utf8' });
    expect(fonts).toMatch(/NotoSerif-Regular\s+CID TrueType\s+Identity-H\s+yes yes yes/);
  });

  it('breaks a word longer than the line and survives empty paragraphs and bare breaks', async () => {
    const long = 'x'.repeat(400);
    const doc: MergedDocument = {
      kind: 'note-verbale',
      language: 'fr',
      templateId: 'odd',
      templateVersion: 1,
      title: 'odd',
      subject: 'odd',
      footnotes: [],
      blocks: [
        { type: 'paragraph', runs: [] },
        { type: 'paragraph', runs: [{ type: 'break' }, { type: 'break' }] },
        { type: 'paragraph', runs: [{ type: 'text', text: `Avant ${long} après` }] },
        { type: 'heading', level: 1, runs: [] },
        { type: 'list', style: 'bullet', items: [{ label: '•', runs: [] }] },
        { type: 'table', header: [], rows: [] },
        { type: 'addressee', lines: [] },
      ],
    };
    const r = await renderDocument(doc);
    const all = text(save(r));
    expect(all.replace(/ /g, '')).toContain(`Avant${long}après`);
    expect(all).toContain('•');
  });
});

describe('UN document (seed 001)', () => {
  it('prints the header, numbered paragraphs, footnotes on their page and the table cells', async () => {
    const r = await renderDocument(agendaDocument());
    const file = save(r);
    const p1 = text(file, 1);
    for (const s of ['CTOC/COP/WG.4/2009/1', 'Distr. générale', '5 mars 2009', 'Français', 'Original: anglais', 'Vienne, 14 et 15 avril 2009']) {
      expect(p1).toContain(s);
    }
    expect(p1).toContain('1. Dans sa décision 4/4');
    expect(p1).toContain("Le présent document n'a pas été revu par les services d'édition.");
    expect(p1).toContain('CTOC/COP/WG.4/2011/8, par. 46 à 51.');
    const all = text(file);
    for (const s of ['Date et heure', 'Intitulé ou description', '10 heures-13 heures', 'Ouverture de la réunion', "Adoption de l'ordre du jour et organisation des travaux", 'Mercredi 15 avril', 'Adoption du rapport', '(suite)']) {
      expect(all).toContain(s);
    }
    // Table columns: the three cells of a row start at increasing x on the same line.
    const page = [...Array(r.pages).keys()].map((i) => words(file, i + 1)).find((p) => p.words.some((w) => w.word === 'Ouverture'))!;
    const heures = page.words.find((w) => w.word === '10')!;
    const point = page.words.find((w) => w.word === 'a)' && Math.abs(w.yMin - heures.yMin) < 2)!;
    const title = page.words.find((w) => w.word === 'Ouverture' && Math.abs(w.yMin - heures.yMin) < 2)!;
    expect(heures.xMin).toBeLessThan(point.xMin);
    expect(point.xMin).toBeLessThan(title.xMin);
  });
});

describe('line breaking (pure)', () => {
  const t = (text: string, bold = false): Run => ({ type: 'text', text, bold });

  it('keeps a space typed at the start or end of a run', () => {
    const a = wordsFromRuns([t('à Genève'), t(' et', true), t(' à '), t('Vienne', true)], { size: 12 });
    expect(a.map((w) => w.pieces.map((p) => p.text).join(''))).toEqual(['à', 'Genève', 'et', 'à', 'Vienne']);
    expect(a.slice(0, -1).every((w) => w.space > 0)).toBe(true);
    const glued = wordsFromRuns([t('Vienne', true), t(', le')], { size: 12 });
    expect(glued.map((w) => w.pieces.length)).toEqual([2, 1]);
  });

  it('justifies full lines to the measure and leaves the last line ragged', () => {
    const runs = [t('Le Gouvernement est donc informé que le Groupe de travail provisoire '), t('tiendra une deuxième réunion', true), t(' à Vienne (Autriche) du 27 au 29 janvier 2010, et qu’il sera heureux de recevoir des propositions.')];
    const lines = breakLines(wordsFromRuns(runs, { size: 12 }), { width: 300, align: 'justify' });
    expect(lines.length).toBeGreaterThan(2);
    for (const [i, line] of lines.entries()) {
      const last = line.frags[line.frags.length - 1]!;
      const end = last.x + last.width;
      if (i < lines.length - 1) expect(end).toBeCloseTo(300, 6);
      else expect(end).toBeLessThan(300);
      // Words never overlap: each fragment starts at or after the end of the previous one.
      line.frags.forEach((f, k) => k > 0 && expect(f.x).toBeGreaterThanOrEqual(line.frags[k - 1]!.x + line.frags[k - 1]!.width - 1e-9));
    }
  });
});
