import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeDocument } from '../src/merge/index.ts';
import { recipientSchema, type Recipient } from '../src/registry/index.ts';
import { fonts, FONT_KEYS } from '../src/render/fonts.ts';
import { renderDocument } from '../src/render/index.ts';
import { parseTemplateText } from '../src/templates/index.ts';
import { pdfText } from './helpers/pdf.ts';

/**
 * Property: whatever a registry holds (any character, astral ones included, empty optional
 * fields, words longer than a line), merge and render never crash, and the PDF's text, as
 * pdftotext extracts it, contains every value.
 * Limits of the text check: it uses characters every Noto Serif face has a glyph for (2,960
 * code points, 88 of them astral), minus
 * - combining marks, spacing accents and modifier letters (\p{M}, \p{Sk}, \p{Lm}): pdftotext
 *   merges a spacing accent such as U+02C6 into the letter before it as a combining mark;
 * - control and format characters (the registry refuses control characters; U+00AD is invisible);
 * - characters NFC changes (U+212A KELVIN SIGN is extracted as K);
 * Characters the font lacks are still merged and rendered (as the font's .notdef box) without
 * a crash: the second property uses any Unicode string.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const seed = (JSON.parse(fs.readFileSync(path.join(ROOT, 'seeds', 'registry.json'), 'utf8')) as Recipient[]).find((r) => r.id === 'FRA')!;

const template = parseTemplateText(
  `---
id: prop
version: 1
kind: note-verbale
language: en
reference: PROP 1
subject: Property
letterDate: 2009-07-08
sender:
  title: secretariat
typography: en
---
The Secretariat presents its compliments [[[FunctionalTitle2Dative]]].

Name: [[[CountryName]]]; running: [[[CountryRunning]]]; of: [[[CountryOf]]]; title: [[[FunctionalTitle2]]]; desk: [[[Desk]]].

{{LetterDate}}

::: addressee
[[[AddressLine1]]]
[[[AddressLine2]]]
[[[AddressLine3]]]
[[[City]]] [[[Postal Code]]]
[[[CountryAddressName]]]
:::
`,
  'prop.en.md',
);

/** Code points with a glyph in all four faces, printable, not combining. */
const printable: string[] = (() => {
  const f = fonts();
  const out: string[] = [];
  for (let cp = 0x21; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCodePoint(cp);
    if (/[\p{M}\p{C}\p{Z}\p{Sk}\p{Lm}]/u.test(ch) || ch.normalize('NFC') !== ch) continue;
    if (FONT_KEYS.every((k) => f[k].hasGlyphForCodePoint(cp))) out.push(ch);
  }
  return out;
})();

const char = fc.constantFrom(...printable);
const word = fc.array(char, { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
/** Words and, one time in five, a word longer than a line (up to 160 characters). */
const longWord = fc.array(char, { minLength: 60, maxLength: 160 }).map((a) => a.join(''));
const line = fc.oneof({ weight: 4, arbitrary: fc.array(word, { minLength: 1, maxLength: 6 }).map((w) => w.join(' ')) }, { weight: 1, arbitrary: longWord });
const optional = fc.oneof(fc.constant(''), line);

function recipientWith(v: { names: string[]; title: string; dative: string; lines: string[]; city: string; postal: string; country: string; desk: string }): Recipient {
  return recipientSchema.parse({
    ...seed,
    language: 'en',
    names: { en: { short: v.names[0], running: v.names[1], of: v.names[2] } },
    titles: { en: { title: v.title, dative: v.dative, gender: 'm' } },
    address: { lines: v.lines, city: v.city, postalCode: v.postal, country: { en: v.country } },
    custom: { Desk: v.desk },
  });
}

const flat = (s: string) => s.normalize('NFC').replace(/\s+/g, '');

describe('any registry values merge and render', () => {
  // Found by this property and fixed in src/render/glyphs.ts: fontkit kept each glyph's code points
  // from its first use in the process, so the ToUnicode map (what pdftotext reads) depended on the
  // letters rendered before. Text is read in content order (-raw): pdftotext's column detection
  // splits a justified line whose gaps are very wide (long random words) into columns.
  it(`property: the PDF text contains every value (${printable.length} characters with glyphs, ${printable.filter((c) => c.codePointAt(0)! > 0xffff).length} astral)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          names: fc.tuple(line, line, line),
          title: line,
          dative: line,
          lines: fc.tuple(line, optional, optional),
          city: line,
          postal: optional,
          country: line,
          desk: line,
        }),
        async (v) => {
          const r = recipientWith({ ...v, names: [...v.names], lines: [...v.lines] });
          const doc = mergeDocument(template, r, {});
          const rendered = await renderDocument(doc);
          const text = flat(await pdfText(rendered.bytes, { raw: true }));
          for (const value of [...v.names, v.title, v.dative, ...v.lines, v.city, v.postal, v.country, v.desk]) {
            expect(text).toContain(flat(value));
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('property: any Unicode at all (astral, unassigned, without a glyph) never crashes merge or render', async () => {
    // What the registry accepts as a line: no control characters, at most 500 characters, not blank.
    const anyLine = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 80 })
      .map((s) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ''))
      .filter((s) => s.trim() !== '');
    await fc.assert(
      fc.asyncProperty(fc.tuple(anyLine, anyLine, anyLine, anyLine), async ([a, b, c, d]) => {
        const r = recipientWith({ names: [a, b, c], title: d, dative: a, lines: [b, '', c], city: d, postal: '', country: a, desk: b });
        const rendered = await renderDocument(mergeDocument(template, r, {}));
        expect(rendered.pages).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 25 },
    );
  });
});
