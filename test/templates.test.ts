import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.ts';
import { documentText, mergeDocument } from '../src/merge/index.ts';
import {
  checkTemplate,
  importArchivedNote,
  listTemplates,
  loadTemplate,
  loadTemplateVersions,
  parseBody,
  parseTemplateText,
  runsText,
} from '../src/templates/index.ts';
import { FRA, templateFromText } from './templates-fixtures.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const TEMPLATES = path.join(ROOT, 'templates');
const SEED_004 = path.resolve(import.meta.dirname, '../seeds/archive/004_c09b3555f6de2e03.txt');
const SUBJECT = 'Deuxième réunion intersessions du Groupe de travail sur la traite des personnes';

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).not.toContain('\n');
    return err as Error;
  }
  throw new Error('expected an InputError');
}

/** Runs the CLI in a scratch folder; returns exit status, stdout and stderr. */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(ROOT, 'bin/chancery.js'), ...args], { env: { ...process.env, ...env }, cwd: env.CWD ?? ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('archive import (seed 004)', () => {
  const seed = fs.readFileSync(SEED_004, 'utf8');

  it('re-importing the seed gives the shipped template byte for byte', () => {
    const text = importArchivedNote(seed, { id: 'cu-2009-92', language: 'fr', file: SEED_004, subject: SUBJECT });
    expect(text).toBe(fs.readFileSync(path.join(TEMPLATES, 'cu-2009-92.fr.md'), 'utf8'));
  });

  it('fills the front matter and turns the archive forms into placeholders', () => {
    const t = parseTemplateText(importArchivedNote(seed, { id: 'cu-2009-92', language: 'fr', file: SEED_004 }), 'cu-2009-92.fr.md');
    expect(t.meta).toMatchObject({
      id: 'cu-2009-92',
      kind: 'note-verbale',
      language: 'fr',
      reference: 'CU 2009/92 (A)',
      letterDate: '2009-07-08',
      replyBy: '2009-07-31',
      sender: { title: 'secretary-general', gender: 'm' },
      typography: 'un-2009',
      closing: false,
    });
    // Without --subject: derived from the text (the first bold passage), short.
    expect(t.meta.subject).toMatch(/^Le Gouvernement est donc informé que le Groupe de travail/);
    expect([...t.meta.subject].length).toBeLessThanOrEqual(121);
    expect(t.body).toContain('Référence: {{Reference}}\n');
    expect(t.body).toContain('présente ses compliments [[[FunctionalTitle2Dative]]] et a l');
    expect(t.body).toContain("soit envoyée d'ici au {{ReplyBy}} au secrétariat");
    expect(t.body).toMatch(/\nLe \{\{LetterDate\}\}\n\n::: addressee\n\[\[\[AddressLine1\]\]\]\n\[\[\[AddressLine2\]\]\]\n\[\[\[AddressLine3\]\]\]\n\[\[\[City\]\]\] \[\[\[Postal Code\]\]\]\n\[\[\[CountryAddressName\]\]\]\n:::\n$/);
    expect(t.body).not.toMatch(/\\\[|\]\(#\)|FunctionalTitle2\]|31 juillet 2009|8 juillet 2009/);
    expect(t.body).toContain('- h) La gestion des affaires');
    expect(t.body).toContain('**Le Gouvernement est donc informé');
  });

  it('refuses a text without reference or final date', () => {
    expect(errorOf(() => importArchivedNote('Bonjour.\n\nLe 8 juillet 2009\n', { id: 'x', language: 'fr', file: 'a.txt' })).message).toMatch(/^a\.txt: no reference line/);
    expect(errorOf(() => importArchivedNote('Référence: X\n\nBonjour.\n', { id: 'x', language: 'fr', file: 'a.txt' })).message).toMatch(
      /^a\.txt: line 3: the note does not end with its date/,
    );
  });

  it('CLI: writes templates/<id>.<lang>.md, refuses to overwrite without --force', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-templates-'));
    const env = { CHANCERY_TEMPLATES: path.join(dir, 'templates'), CHANCERY_REGISTRY: path.join(dir, 'none.json'), CWD: dir };
    const args = ['template', 'import', SEED_004, '--id', 'cu-2009-92', '--lang', 'fr', '--subject', SUBJECT];
    const first = await cli(args, env);
    expect(first).toMatchObject({ code: 0, stdout: 'templates/cu-2009-92.fr.md\n' });
    const written = path.join(dir, 'templates/cu-2009-92.fr.md');
    const shipped = fs.readFileSync(path.join(TEMPLATES, 'cu-2009-92.fr.md'), 'utf8');
    expect(fs.readFileSync(written, 'utf8')).toBe(shipped);
    // Importing the same note again (as the README does on a fresh clone) changes nothing and succeeds,
    // keeping the subject already in the front matter when --subject is not given.
    const same = await cli(args.filter((a) => a !== '--subject' && a !== SUBJECT), env);
    expect(same).toMatchObject({ code: 0, stdout: 'templates/cu-2009-92.fr.md: unchanged (this note is already imported)\n' });
    expect(fs.readFileSync(written, 'utf8')).toBe(shipped);
    fs.writeFileSync(written, 'edited by an officer');
    // A second folder holding a broken English version, for `check`.
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-templates-'));
    fs.mkdirSync(path.join(other, 'templates'));
    fs.writeFileSync(path.join(other, 'templates/cu-2009-92.fr.md'), shipped);
    const brokenEn = fs.readFileSync(path.join(TEMPLATES, 'cu-2009-92.en.md'), 'utf8').replace('[[[FunctionalTitle2Dative]]]', '[[[FunctionalTitle3]]]');
    fs.writeFileSync(path.join(other, 'templates/cu-2009-92.en.md'), brokenEn);
    const otherEnv = { ...env, CHANCERY_TEMPLATES: path.join(other, 'templates'), CWD: other };

    const [again, bad] = await Promise.all([cli(args, env), cli(['template', 'check', 'cu-2009-92'], otherEnv)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('chancery: templates/cu-2009-92.fr.md: already exists and differs from this import (use --force to overwrite)\n');
    expect(fs.readFileSync(written, 'utf8')).toBe('edited by an officer');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('cu-2009-92.en.md (en)\n  placeholders: Reference, FunctionalTitle3, ReplyBy, LetterDate,');
    expect(bad.stdout).toContain('  problem: cu-2009-92.en.md: line 19: unknown field "FunctionalTitle3"\n');
    expect(bad.stdout).toContain('cu-2009-92.fr.md (fr)\n  placeholders: Reference, FunctionalTitle2Dative, ReplyBy, LetterDate, AddressLine1, AddressLine2, AddressLine3, City, Postal Code, CountryAddressName\n  no problem\n');

    expect((await cli([...args, '--force'], env)).code).toBe(0);
    expect(fs.readFileSync(written, 'utf8')).toBe(shipped);
  }, 60_000);
});

describe('shipped templates', () => {
  it('all load, list and check without problem', async () => {
    const metas = await listTemplates(TEMPLATES);
    expect(metas.map((m) => `${m.id}.${m.language}`)).toEqual([
      'cop7-wg4-trafficking-report.fr',
      'cop7-wg7-smuggling-report.fr',
      'ctoc-cop-wg4-2009-1.fr',
      'cu-2009-92-reminder.en',
      'cu-2009-92-reminder.fr',
      'cu-2009-92.en',
      'cu-2009-92.fr',
    ]);
    for (const m of metas) {
      const t = await loadTemplate(TEMPLATES, m.id, m.language);
      expect(t.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(checkTemplate(t).problems).toEqual([]);
    }
  });

  it('seed 001: header, nested agenda, footnote *, three-column table', async () => {
    const doc = mergeDocument(await loadTemplate(TEMPLATES, 'ctoc-cop-wg4-2009-1', 'fr'), FRA);
    expect(doc.header).toEqual({
      body: 'Conférence des Parties à la Convention des Nations Unies contre la criminalité transnationale organisée',
      distribution: 'Distr. générale',
      date: '5 mars 2009',
      language: 'Français',
      original: 'Original: anglais',
      symbol: 'CTOC/COP/WG.4/2009/1',
      session: ['Groupe de travail sur la traite des personnes', 'Vienne, 14 et 15 avril 2009'],
    });
    expect(doc.title).toBe('CTOC/COP/WG.4/2009/1');
    expect(doc.blocks[0]).toEqual({ type: 'heading', level: 1, runs: [{ type: 'text', text: 'Ordre du jour provisoire et annotations' }, { type: 'footnote-ref', mark: '*' }] });
    const agenda = doc.blocks[2];
    expect(agenda?.type === 'list' && agenda.style).toBe('decimal');
    if (agenda?.type !== 'list') throw new Error('agenda');
    expect(agenda.items.map((i) => i.label)).toEqual(['1.', '2.', '3.', '4.']);
    expect(agenda.items[0]!.children?.items.map((i) => `${i.label} ${runsText(i.runs)}`)).toEqual([
      'a) Ouverture de la réunion;',
      "b) Adoption de l'ordre du jour et organisation des travaux.",
    ]);
    const table = doc.blocks.find((b) => b.type === 'table');
    if (table?.type !== 'table') throw new Error('table');
    expect(table.header.map(runsText)).toEqual(['Date et heure', "Point de l'ordre du jour", 'Intitulé ou description']);
    expect(table.header[0]).toEqual([{ type: 'text', text: 'Date et heure', italic: true }]);
    expect(table.rows).toHaveLength(9);
    expect(table.rows[1]!.map(runsText)).toEqual(['10 heures-13 heures', '1 a)', 'Ouverture de la réunion']);
    expect(table.rows[4]![2]!.at(-2)).toEqual({ type: 'text', text: 'suite', italic: true });
    expect(table.widths).toEqual([12, 8, 32]);
    expect(doc.footnotes).toEqual([{ mark: '*', runs: [{ type: 'text', text: "Le présent document n'a pas été revu par les services d'édition." }] }]);
    expect(documentText(doc)).toContain('(CTOC/COP/2008/6)');
  });

  it('seeds 000 and 002: numbered paragraphs, symbols, footnotes * (from the header) and ¹', async () => {
    const doc = mergeDocument(await loadTemplate(TEMPLATES, 'cop7-wg4-trafficking-report', 'fr'), FRA);
    expect(doc.header?.session).toEqual(['Septième session', 'Vienne, 6-10 octobre 2014', "Point 2 b) de l'ordre du jour provisoire*"]);
    expect(doc.header?.date).toBe('12 juin 2014');
    const numbered = doc.blocks.filter((b) => b.type === 'paragraph' && b.number);
    expect(numbered.map((b) => b.type === 'paragraph' && b.number)).toEqual(['1.', '2.', '3.', '4.']);
    expect(numbered[1]?.type === 'paragraph' && numbered[1].runs.at(-2)).toEqual({ type: 'footnote-ref', mark: '¹' });
    expect(documentText(doc)).toContain('(CTOC/COP/WG.4/2013/5)');
    expect(doc.footnotes.map((f) => [f.mark, runsText(f.runs)])).toEqual([
      ['*', 'CTOC/COP/2014/1.'],
      ['¹', 'CTOC/COP/WG.4/2011/8, par. 46 à 51.'],
    ]);
    const title = doc.blocks[0];
    expect(title?.type === 'paragraph' && title.runs.filter((r) => r.type === 'break')).toHaveLength(3);

    const smuggling = mergeDocument(await loadTemplate(TEMPLATES, 'cop7-wg7-smuggling-report', 'fr'), FRA);
    expect(documentText(smuggling)).toContain('du 30 mai au 1er juin 2012');
    expect(documentText(smuggling)).toContain('porte sur les bonnes pratiques en matière de techniques');
    expect(documentText(smuggling)).toContain('(CTOC/COP/WG.7/2013/5)');
  });

  it('loading a missing version or id is a clear error', async () => {
    await expect(loadTemplate(TEMPLATES, 'cu-2009-92', 'es')).rejects.toThrow(/template "cu-2009-92" has no version in es \(.*cu-2009-92\.es\.md not found; versions: en, fr\)/);
    await expect(loadTemplateVersions(TEMPLATES, 'nope')).rejects.toThrow(/no template "nope"/);
    await expect(loadTemplate(TEMPLATES, '../etc/passwd', 'fr')).rejects.toThrow(/must be lower-case letters/);
  });
});

describe('front matter', () => {
  it('is validated with the line named', () => {
    const t = (fm: string) => `---\n${fm}\n---\nx\n`;
    const base =
      'id: x\nversion: 1\nkind: note-verbale\nlanguage: fr\nreference: R\nsubject: S\nletterDate: 2009-07-08\nsender:\n  title: secretary-general\n  gender: m\ntypography: un-2009';
    expect(parseTemplateText(t(base), 'f.md').meta.closing).toBe(false);
    expect(errorOf(() => parseTemplateText(t(base.replace('2009-07-08', '2009-02-30')), 'f.md')).message).toBe(
      'f.md: line 8: front matter: letterDate: is not a valid date (expected yyyy-mm-dd, e.g. 2009-07-31)',
    );
    expect(errorOf(() => parseTemplateText(t(`${base}\ncolour: red`), 'f.md')).message).toMatch(/^f\.md: (line \d+: )?front matter: .*colour/);
    expect(errorOf(() => parseTemplateText(t(base.replace('un-2009', 'fancy')), 'f.md')).message).toMatch(/^f\.md: line 12: front matter: typography: /);
    expect(errorOf(() => parseTemplateText(t(base.replace('note-verbale', 'un-document')), 'f.md')).message).toMatch(/header: is required for a un-document/);
    expect(errorOf(() => parseTemplateText('no front matter', 'f.md')).message).toMatch(/^f\.md: line 1: a template starts with a "---" line/);
    expect(errorOf(() => parseTemplateText(t('id: [x'), 'f.md')).message).toMatch(/^f\.md: line \d+: front matter: /);
  });
});

describe('hostile templates give a clear one-line error with the line', () => {
  const at = (body: string) => {
    const t = templateFromText(body);
    return { t, line: (k: number) => `templates/test.fr.md: line ${t.bodyLine! + k}: ` };
  };
  it.each([
    ['unknown placeholder', 'x\n\nCompliments [[[FunctionalTitle3]]].\n', 2, 'unknown field "FunctionalTitle3"'],
    ['unbalanced [[[', 'x\nCompliments [[[FunctionalTitle2.\n', 1, 'unbalanced "[[[" without "]]]" on the same line'],
    ['stray ]]]', 'x\nCompliments FunctionalTitle2]]].\n', 1, 'unbalanced "]]]" without "[[["'],
    ['unbalanced {{', 'x\n\nLe {{LetterDate\n', 2, 'malformed or unbalanced "{{ }}"'],
    ['stray }}', 'x\n\nLe LetterDate}}\n', 2, 'unbalanced "}}" without "{{"'],
    ['unknown helper', 'x\n{{shout Reference}}\n', 1, 'unknown helper "shout"'],
    ['each', 'x\n{{#each recipient}}{{/each}}\n', 1, 'block "{{#each}}" is not supported'],
    ['lookup', 'x\n{{lookup recipient "id"}}\n', 1, 'unknown helper "lookup"'],
    ['constructor', 'x\n{{recipient.constructor}}\n', 1, '"constructor" may not be used in a placeholder'],
    ['__proto__', 'x\n{{__proto__}}\n', 1, '"__proto__" may not be used in a placeholder'],
    ['prototype', 'x\n\n{{#if custom.prototype}}y{{/if}}\n', 2, '"prototype" may not be used in a placeholder'],
    ['partial', 'x\n{{> ../../etc/passwd}}\n', 1, 'partials ("{{> ...}}") are not supported in templates'],
    ['data variable', '{{@root.Reference}}\n', 0, 'data variables such as "@root.Reference" are not supported'],
    ['parent path', '{{../Reference}}\n', 0, 'parent paths such as "../Reference" are not supported'],
    ['bad legacy name', '[[[Foo.Bar]]]\n', 0, 'placeholder [[[Foo.Bar]]] is not a valid name'],
    ['unclosed bold', 'x\n\n**gras\n\n::: addressee\nx\n:::\n', 2, 'unclosed ** (bold)'],
    ['javascript link', '[clic](javascript:alert(1))\n\n::: addressee\nx\n:::\n', 0, 'link target "javascript:alert(1)" is not allowed'],
    ['footnote without definition', 'x[^1]\n\n::: addressee\nx\n:::\n', 0, 'footnote reference ¹ has no definition'],
    ['unclosed addressee', 'x\n\n::: addressee\n[[[City]]]\n', 2, '"::: addressee" is not closed by a line ":::"'],
    ['unknown directive', '::: signature\n:::\n', 0, 'unknown directive "::: signature"'],
  ])('%s', (_name, body, k, message) => {
    const { t, line } = at(body);
    const error = errorOf(() => mergeDocument(t, FRA)).message;
    expect(error.startsWith(`${line(k)}${message}`), error).toBe(true);
  });
});

describe('the Markdown subset', () => {
  const parse = (text: string) => parseBody(text, { file: 'f.md', lineOffset: 0 });
  it('parses paragraphs, hard breaks, escapes, headings, lists and links', () => {
    const { blocks, footnotes } = parse(
      [
        '# Titre',
        '',
        'Ligne un  ',
        'ligne **deux** et *trois*, \\*pas\\* \\[lien\\](x)',
        'suite.[^*]',
        '',
        'i) premier;',
        '',
        'ii) second.',
        '',
        '- puce',
        '- autre',
        '',
        '7. Paragraphe numéroté',
        'sur deux lignes.',
        '',
        'Voir <https://example.org/a_b> ou <a@b.org> ou [ici](mailto:x@y.org).',
        '',
        '::: addressee',
        'Rue 1  ',
        '   ',
        'Vienne',
        ':::',
        '',
        '[^*]: Note *en italique*.',
      ].join('\n'),
    );
    expect(blocks).toEqual([
      { type: 'heading', level: 1, runs: [{ type: 'text', text: 'Titre' }] },
      {
        type: 'paragraph',
        runs: [
          { type: 'text', text: 'Ligne un' },
          { type: 'break' },
          { type: 'text', text: 'ligne ' },
          { type: 'text', text: 'deux', bold: true },
          { type: 'text', text: ' et ' },
          { type: 'text', text: 'trois', italic: true },
          { type: 'text', text: ', *pas* [lien](x) suite.' },
          { type: 'footnote-ref', mark: '*' },
        ],
      },
      { type: 'list', style: 'roman', items: [{ label: 'i)', runs: [{ type: 'text', text: 'premier;' }] }, { label: 'ii)', runs: [{ type: 'text', text: 'second.' }] }] },
      { type: 'list', style: 'bullet', items: [{ label: '•', runs: [{ type: 'text', text: 'puce' }] }, { label: '•', runs: [{ type: 'text', text: 'autre' }] }] },
      { type: 'paragraph', number: '7.', runs: [{ type: 'text', text: 'Paragraphe numéroté sur deux lignes.' }] },
      {
        type: 'paragraph',
        runs: [
          { type: 'text', text: 'Voir ' },
          { type: 'text', text: 'https://example.org/a_b', link: 'https://example.org/a_b' },
          { type: 'text', text: ' ou ' },
          { type: 'text', text: 'a@b.org', link: 'mailto:a@b.org' },
          { type: 'text', text: ' ou ' },
          { type: 'text', text: 'ici', link: 'mailto:x@y.org' },
          { type: 'text', text: '.' },
        ],
      },
      { type: 'addressee', lines: ['Rue 1', 'Vienne'] },
    ]);
    expect(footnotes).toEqual([{ mark: '*', runs: [{ type: 'text', text: 'Note ' }, { type: 'text', text: 'en italique', italic: true }, { type: 'text', text: '.' }] }]);
  });

  it('tells lettered from roman lists, and h) i) j) stays lettered', () => {
    const { blocks } = parse('- g) x\n- h) y\n- i) z\n- j) w\n');
    expect(blocks[0]).toMatchObject({ type: 'list', style: 'alpha' });
    expect(blocks[0]?.type === 'list' && blocks[0].items.map((i) => i.label)).toEqual(['g)', 'h)', 'i)', 'j)']);
  });

  it('tables: widths from the dashes, escaped pipes, no header when the header row is empty', () => {
    const { blocks } = parse('|  |  |\n| --- | --------- |\n| a \\| b | *c* |\n| d |\n');
    expect(blocks[0]).toEqual({
      type: 'table',
      header: [],
      rows: [
        [[{ type: 'text', text: 'a | b' }], [{ type: 'text', text: 'c', italic: true }]],
        [[{ type: 'text', text: 'd' }], []],
      ],
      widths: [3, 9],
    });
    expect(errorOf(() => parse('x\n\n| a | b |\n| c | d |\n')).message).toBe('f.md: line 4: a table needs a delimiter row under its header, e.g. | --- | --- |');
    expect(errorOf(() => parse('| a |\n| - |\n| b | c |\n')).message).toBe('f.md: line 3: table row has 2 cells, the table has 1 columns');
  });
});
