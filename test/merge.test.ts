import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MergedDocument, Run } from '../src/document/model.ts';
import { InputError } from '../src/errors.ts';
import { applyTypography, chooseVersion, documentText, formatDate, formatGaps, mergeDocument, preflight } from '../src/merge/index.ts';
import { recipientSchema } from '../src/registry/schema.ts';
import { loadTemplate, loadTemplateVersions, runsText } from '../src/templates/index.ts';
import { ALL_FR, BRA, DEU, ESP, FRA, GBR, HTI, NLD, PHL, templateFromText } from './templates-fixtures.ts';

const TEMPLATES = path.resolve('templates');
const fr = await loadTemplate(TEMPLATES, 'cu-2009-92', 'fr');
const en = await loadTemplate(TEMPLATES, 'cu-2009-92', 'en');

function firstParagraphs(doc: MergedDocument): string[] {
  return doc.blocks.filter((b) => b.type === 'paragraph').map((b) => runsText(b.runs));
}
const addressee = (doc: MergedDocument) => doc.blocks.find((b) => b.type === 'addressee');

function expectInputError(fn: () => unknown, pattern: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(InputError);
  expect((error as Error).message).toMatch(pattern);
  expect((error as Error).message).not.toContain('\n');
}

describe('the French note CU 2009/92 (A) merged for real recipients', () => {
  it.each([
    [FRA, 'au Représentant permanent de la France'],
    [BRA, "au Chargé d'affaires par intérim du Brésil"],
    [PHL, 'à la Représentante permanente des Philippines'],
    [DEU, "à la Mission permanente de l'Allemagne"],
    [HTI, "au Représentant permanent d'Haïti"],
    [NLD, 'au Représentant permanent du Royaume des Pays-Bas'],
  ])('%# addresses the salutation with the dative form', (recipient, dative) => {
    const doc = mergeDocument(fr, recipient);
    const text = documentText(doc);
    expect(text).toContain(
      `Le Secrétaire général de l'Organisation des Nations Unies présente ses compliments ${dative} auprès de l'Organisation des Nations Unies (Vienne) et a l'honneur d'appeler l'attention du Gouvernement`,
    );
    expect(text).not.toMatch(/compliments au (au|à)/);
  });

  it('prints the reference at the top, the deadline in the body and the date at the end, no closing', () => {
    const merged = mergeDocument(fr, PHL);
    const paragraphs = firstParagraphs(merged);
    expect(paragraphs[0]).toBe('Référence: CU 2009/92 (A)');
    expect(paragraphs.at(-1)).toBe('Le 8 juillet 2009');
    expect(documentText(merged)).toContain("soit envoyée d'ici au 31 juillet 2009 au secrétariat de la Conférence des Parties");
    expect(documentText(merged)).not.toMatch(/considération|Veuillez agréer/);
    expect(merged).toMatchObject({ kind: 'note-verbale', language: 'fr', templateId: 'cu-2009-92', templateVersion: 1, title: 'CU 2009/92 (A)' });
    expect(merged.subject).toBe('Deuxième réunion intersessions du Groupe de travail sur la traite des personnes');
  });

  it('drops empty address lines and keeps the others as the registry holds them', () => {
    expect(addressee(mergeDocument(fr, FRA))).toEqual({
      type: 'addressee',
      lines: ['Mission permanente de la France', 'Schwarzenbergplatz 16', 'Vienne 1010', 'Autriche'],
    });
    // No postal code: the City line is just the city.
    expect(addressee(mergeDocument(fr, PHL))).toEqual({
      type: 'addressee',
      lines: ['Mission permanente des Philippines', 'Laurenzerberg 2', 'Appartement 4', 'Vienne', 'Autriche'],
    });
  });

  it('keeps the bold passages, the roman and lettered lists, the link and the e-mail address', () => {
    const doc = mergeDocument(fr, FRA);
    const lists = doc.blocks.filter((b) => b.type === 'list');
    expect(lists.map((l) => [l.style, l.items.map((i) => i.label).join(' ')])).toEqual([
      ['roman', 'i) ii) iii) iv)'],
      ['alpha', 'a) b) c) d) e) f) g) h)'],
    ]);
    const runs = doc.blocks.flatMap((b) => (b.type === 'paragraph' ? b.runs : []));
    const bold = runs.filter((r): r is Extract<Run, { type: 'text' }> => r.type === 'text' && !!r.bold).map((r) => r.text);
    expect(bold).toEqual([
      'Le Gouvernement est donc informé que le Groupe de travail provisoire à composition non limitée sur le Protocole relatif à la traite des personnes tiendra une deuxième réunion à Vienne (Autriche) du 27 au 29 janvier 2010.',
      'le Gouvernement est cordialement invité à proposer des sujets de discussion pour cette deuxième réunion.',
    ]);
    const links = runs.filter((r) => r.type === 'text' && r.link).map((r) => (r.type === 'text' ? [r.text, r.link] : []));
    expect(links).toEqual([
      ['http://www.unodc.org/unodc/fr/treaties/CTOC/working-group-on-trafficking-in-persons-protocol.html', 'http://www.unodc.org/unodc/fr/treaties/CTOC/working-group-on-trafficking-in-persons-protocol.html'],
      ['untoc.cop@unodc.org', 'mailto:untoc.cop@unodc.org'],
    ]);
  });

  it('takes reference and dates from the campaign: "1er août 2009"', () => {
    const doc = mergeDocument(fr, FRA, { reference: 'CU 2009/92 (B)', letterDate: '2009-07-10', replyBy: '2009-08-01' });
    const text = documentText(doc);
    expect(text).toContain('Référence: CU 2009/92 (B)');
    expect(text).toContain("d'ici au 1er août 2009 au secrétariat");
    expect(firstParagraphs(doc).at(-1)).toBe('Le 10 juillet 2009');
    expect(doc.title).toBe('CU 2009/92 (B)');
    expectInputError(() => mergeDocument(fr, FRA, { replyBy: '2009-02-30' }), /replyBy: "2009-02-30" is not a valid date/);
  });

  it('merges the English version for an English-speaking State', () => {
    const doc = mergeDocument(en, GBR);
    const text = documentText(doc);
    expect(firstParagraphs(doc)[0]).toBe('Reference: CU 2009/92 (A)');
    expect(text).toContain(
      'The Secretary-General of the United Nations presents his compliments to the Permanent Representative of the United Kingdom to the United Nations (Vienna) and has the honour to draw the attention of the Government to decision 4/4',
    );
    expect(text).toContain('could be sent by 31 July 2009 to the secretariat');
    expect(firstParagraphs(doc).at(-1)).toBe('8 July 2009');
    expect(addressee(doc)?.type === 'addressee' && addressee(doc)).toMatchObject({ lines: ['Permanent Mission of the United Kingdom', 'Jaurèsgasse 12', 'Vienna 1030', 'Austria'] });
  });

  it('chooses the version in the correspondence language, else the fallback', async () => {
    const versions = await loadTemplateVersions(TEMPLATES, 'cu-2009-92');
    expect(versions.map((v) => v.meta.language)).toEqual(['en', 'fr']);
    expect(chooseVersion(versions, FRA)?.meta.language).toBe('fr');
    expect(chooseVersion(versions, GBR)?.meta.language).toBe('en');
    expect(chooseVersion(versions, ESP)).toBeUndefined();
    const withFallback = versions.map((v) => ({ ...v, meta: { ...v.meta, ...(v.meta.language === 'fr' ? { fallbackLanguage: 'en' as const } : {}) } }));
    expect(chooseVersion(withFallback, ESP)?.meta.language).toBe('en');
  });
});

describe('dates', () => {
  it('are written per language', () => {
    expect(formatDate('2009-07-08', 'fr')).toBe('8 juillet 2009');
    expect(formatDate('2009-08-01', 'fr')).toBe('1er août 2009');
    expect(formatDate('2009-07-08', 'en')).toBe('8 July 2009');
    expect(formatDate('2009-07-08', 'es')).toBe('8 de julio de 2009');
    expect(formatDate('2009-07-08', 'ru')).toBe('8 июля 2009 года');
    expect(formatDate('2009-07-08', 'zh')).toBe('2009年7月8日');
    expect(formatDate('2009-07-08', 'ar')).toBe('8 تموز/يوليه 2009');
    expect(formatDate('2008-02-29', 'fr')).toBe('29 février 2008');
  });
  it('are validated strictly', () => {
    for (const bad of ['2009-02-30', '2009-02-29', '2009-13-01', '2009-7-8', '08/07/2009', '2009-07-08T00:00:00Z', '']) {
      expectInputError(() => formatDate(bad, 'fr'), /is not a valid date/);
    }
    expectInputError(() => formatDate('2009-07-08', 'de'), /no date format for language "de"/);
  });
  it('{{date}} formats an ISO value in the template language', () => {
    const t = templateFromText('Réponse attendue le {{date replyBy}} ({{date replyBy "en"}}), {{upper CountryName}}.\n\n::: addressee\n{{City}}\n:::\n');
    expect(documentText(mergeDocument(t, HTI))).toContain('Réponse attendue le 31 juillet 2009 (31 July 2009), HAÏTI.');
  });
});

describe('typography profiles', () => {
  const body = [
    'Référence: {{Reference}}',
    '',
    'Réunion à 10:30; voir <http://www.unodc.org/a?b=c:d> et « le rapport » (CTOC/COP/2008/6)! Courriel: untoc.cop@unodc.org? Oui.',
    '',
    '**Objet**: {{CountryRunning}}',
    '',
    '::: addressee',
    '[[[City]]]',
    ':::',
  ].join('\n');
  const text = (typography: string) => documentText(mergeDocument(templateFromText(body, { typography }), FRA));

  it('un-2009 leaves the text as written', () => {
    expect(text('un-2009')).toContain('Référence: CU 2009/92 (A)\n\nRéunion à 10:30; voir http://www.unodc.org/a?b=c:d et « le rapport » (CTOC/COP/2008/6)! Courriel: untoc.cop@unodc.org? Oui.');
  });
  it('fr applies current French spacing without touching URLs, e-mail addresses, times or symbols', () => {
    const out = text('fr');
    expect(out).toContain('Référence\u00a0: CU 2009/92 (A)');
    expect(out).toContain('Réunion à 10:30\u202f; voir http://www.unodc.org/a?b=c:d et «\u202fle rapport\u202f» (CTOC/COP/2008/6)\u202f! Courriel\u00a0: untoc.cop@unodc.org\u202f? Oui.');
    // Across a bold/plain boundary.
    expect(out).toContain('Objet\u00a0: la France');
  });
  it('en changes nothing', () => {
    expect(text('en')).toBe(text('un-2009'));
  });
  it('applies to the whole seed note under fr, leaving the link and e-mail alone', () => {
    const doc = mergeDocument({ ...fr, meta: { ...fr.meta, typography: 'fr' } }, FRA);
    const out = documentText(doc);
    expect(out).toContain('Référence\u00a0: CU 2009/92 (A)');
    expect(out).toContain('remplirait les fonctions suivantes\u00a0:');
    expect(out).toContain('les lacunes et les difficultés\u202f;');
    expect(out).toContain('http://www.unodc.org/unodc/fr/treaties/CTOC/working-group-on-trafficking-in-persons-protocol.html');
    expect(out).toContain('courriel\u00a0: untoc.cop@unodc.org.');
  });
  it('keeps run boundaries and styles', () => {
    const runs: Run[] = [{ type: 'text', text: 'Note', bold: true }, { type: 'text', text: ': a ; b' }, { type: 'footnote-ref', mark: '*' }];
    expect(applyTypography(runs, 'fr')).toEqual([{ type: 'text', text: 'Note', bold: true }, { type: 'text', text: '\u00a0: a\u202f; b' }, { type: 'footnote-ref', mark: '*' }]);
  });
});

describe('values never become markup', () => {
  it('a registry value holding ** or [x](y) stays literal text', () => {
    const hostile = recipientSchema.parse({
      ...FRA,
      titles: { fr: { title: '**Gras** [x](https://evil.example) [^1] <b>', dative: 'au **Représentant** [lien](mailto:a@b.c) \\* `code` {{Reference}} [[[City]]]', gender: 'm' } },
      address: { ...FRA.address, lines: ['1. Avenue', '- a) liste', '| cellule |'] },
    });
    const doc = mergeDocument(fr, hostile);
    const first = doc.blocks[1];
    expect(first?.type).toBe('paragraph');
    const runs = first?.type === 'paragraph' ? first.runs : [];
    expect(runs).toHaveLength(1);
    expect(runsText(runs)).toContain('présente ses compliments au **Représentant** [lien](mailto:a@b.c) \\* `code` {{Reference}} [[[City]]] et a l');
    expect(runs.every((r) => r.type === 'text' && !r.bold && !r.link)).toBe(true);
    expect(addressee(doc)).toEqual({ type: 'addressee', lines: ['1. Avenue', '- a) liste', '| cellule |', 'Vienne 1010', 'Autriche'] });
  });

  it('property: any Unicode string as a registry value survives into the text runs literally', () => {
    const t = templateFromText('Avant [[[FunctionalTitle2Dative]]] après.\n\n| a | b |\n| - | - |\n| {{CountryOf}} | x |\n\n::: addressee\n[[[City]]]\n:::\n');
    // Strings a registry line may hold: no control characters or line separators, at least one non-space character.
    const line = fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) && s.trim().length > 0);
    fc.assert(
      fc.property(line, line, line, (dative, of, city) => {
        const r = recipientSchema.parse({
          ...FRA,
          titles: { fr: { title: 'T', dative, gender: 'm' } },
          names: { fr: { short: 'S', running: 'R', of } },
          address: { ...FRA.address, city },
        });
        const doc = mergeDocument(t, r);
        const p = doc.blocks[0];
        expect(p?.type === 'paragraph' && p.runs.length === 1 && runsText(p.runs)).toBe(`Avant ${dative} après.`);
        const table = doc.blocks[1];
        expect(table?.type === 'table' && runsText(table.rows[0]![0]!)).toBe(of.replace(/^[ \t]+|[ \t]+$/g, ''));
        expect(addressee(doc)).toEqual({ type: 'addressee', lines: [city.trim()] });
      }),
      { numRuns: 300 },
    );
  });
});

describe('field errors name the file, line and field', () => {
  it('an unknown field is an error, never an empty string', () => {
    const t = templateFromText('Référence: {{Reference}}\n\nPrésente ses compliments [[[FunctionalTitle3]]].\n\n::: addressee\n[[[City]]]\n:::\n');
    expectInputError(() => mergeDocument(t, FRA), new RegExp(`^templates/test\\.fr\\.md: line ${t.bodyLine! + 2}: unknown field "FunctionalTitle3"$`));
  });
  it('an unknown nested field too', () => {
    const t = templateFromText('x\n{{recipient.nope}}\n\n::: addressee\n[[[City]]]\n:::\n');
    expectInputError(() => mergeDocument(t, FRA), new RegExp(`line ${t.bodyLine! + 1}: unknown field "recipient.nope"`));
  });
  it('a missing French title for a French note names the recipient', () => {
    expectInputError(() => mergeDocument(fr, GBR), /^cu-2009-92\.fr\.md: line \d+: field "FunctionalTitle2Dative" has no value: titles\.fr is missing for recipient GBR \(fr\)/);
  });
  it('ReplyBy without a reply-by date is an error', () => {
    const t = templateFromText('Avant le [[[ReplyBy]]].\n\n::: addressee\n[[[City]]]\n:::\n');
    const noReplyBy = { ...t, meta: { ...t.meta, replyBy: undefined } };
    expectInputError(() => mergeDocument(noReplyBy, FRA), /field "ReplyBy" has no value: no reply-by date/);
    expect(documentText(mergeDocument(noReplyBy, FRA, { replyBy: '2009-09-01' }))).toContain('Avant le 1er septembre 2009.');
  });
  it('a note verbale needs an addressee block', () => {
    expectInputError(() => mergeDocument(templateFromText('Bonjour.\n'), FRA), /needs a "::: addressee" block/);
  });
});

describe('preflight', () => {
  it('lists every gap at once and formats them as a table', async () => {
    const withCustom = recipientSchema.parse({ ...FRA, custom: { Ambassador: 'Mme X' } });
    const t = templateFromText(
      'Compliments [[[FunctionalTitle2Dative]]], {{CountryOf}}, {{Ambassador}}, {{Nope}}.\n\n::: addressee\n[[[City]]]\n[[[CountryAddressName]]]\n:::\n',
    );
    const gaps = preflight([t], [withCustom, BRA, GBR, ESP]);
    expect(gaps).toEqual([
      { recipientId: 'FRA', language: 'fr', field: 'Nope', problem: `unknown field (line ${t.bodyLine})` },
      { recipientId: 'BRA', language: 'fr', field: 'Ambassador', problem: `no value: custom field missing for this recipient (line ${t.bodyLine})` },
      { recipientId: 'BRA', language: 'fr', field: 'Nope', problem: `unknown field (line ${t.bodyLine})` },
      { recipientId: 'GBR', language: 'en', field: '(template)', problem: 'no version in en (versions: fr) and no fallback language' },
      { recipientId: 'ESP', language: 'es', field: '(template)', problem: 'no version in es (versions: fr) and no fallback language' },
    ]);
    const table = formatGaps(gaps);
    expect(table.split('\n')[0]).toMatch(/^recipient\s+language\s+field\s+problem$/);
    expect(table).toContain('ESP        es        (template)  no version in es');
    expect(preflight([fr], ALL_FR)).toEqual([]);
    expect(formatGaps([])).toMatch(/No gaps/);
  });

  it('reports a recipient served by the fallback version without forms in that language', async () => {
    const versions = (await loadTemplateVersions(TEMPLATES, 'cu-2009-92')).map((v) =>
      v.meta.language === 'fr' ? { ...v, meta: { ...v.meta, fallbackLanguage: 'en' as const } } : v,
    );
    const gaps = preflight(versions, [ESP, FRA, GBR]);
    // ESP (Spanish) gets the English version, and has no English title.
    expect(gaps.map((g) => [g.recipientId, g.language, g.field])).toEqual([['ESP', 'en', 'FunctionalTitle2Dative']]);
    expect(gaps[0]!.problem).toMatch(/^no value: titles\.en is missing \(line \d+\)$/);
  });

  it('reports an empty required value and a broken template', () => {
    const empty = recipientSchema.parse({ ...FRA, custom: { Ambassador: '' } });
    const t = templateFromText('M. {{Ambassador}}\n\n::: addressee\n[[[City]]]\n:::\n');
    expect(preflight([t], [empty])).toEqual([{ recipientId: 'FRA', language: 'fr', field: 'Ambassador', problem: `empty value (line ${t.bodyLine})` }]);
    const broken = templateFromText('Bonjour {{#each x}}{{/each}}\n');
    expect(preflight([broken], [FRA])[0]).toMatchObject({ recipientId: '*', field: '(template)', problem: expect.stringMatching(/block "\{\{#each\}\}" is not supported/) });
  });
});

describe('closing (off by default)', () => {
  it('adds the Member-State style close before the date line when asked', () => {
    const doc = mergeDocument({ ...fr, meta: { ...fr.meta, closing: true } }, PHL);
    const paragraphs = firstParagraphs(doc);
    expect(paragraphs.at(-2)).toBe(
      "Le Secrétaire général de l'Organisation des Nations Unies saisit cette occasion pour renouveler à la Représentante permanente des Philippines auprès de l'Organisation des Nations Unies (Vienne) les assurances de sa très haute considération.",
    );
    expect(paragraphs.at(-1)).toBe('Le 8 juillet 2009');
  });
});

describe('the registry shipped in seeds/ (when present)', () => {
  const file = path.resolve('seeds/registry.json');
  it.skipIf(!fs.existsSync(file))('merges every State in its language or reports why not', async () => {
    const { parseRegistryFile } = await import('../src/registry/index.ts');
    const recipients = await parseRegistryFile(file);
    const versions = await loadTemplateVersions(TEMPLATES, 'cu-2009-92');
    const gaps = preflight(versions, recipients);
    for (const r of recipients) {
      const version = chooseVersion(versions, r);
      if (!version || gaps.some((g) => g.recipientId === r.id)) continue;
      const text = documentText(mergeDocument(version, r));
      expect(text).toContain(r.titles[version.meta.language]!.dative);
    }
  });
});
