import type { Run } from '../document/model.ts';

/**
 * Typography profiles, applied to the FILLED text runs (so registry values get them too):
 *   un-2009  the text as written (seed 004: "Référence: CU 2009/92 (A)")
 *   fr       current French rules: U+00A0 before ":", U+202F before ";", "!", "?" and inside « »
 *   en       nothing
 * URLs, e-mail addresses, times (10:30), document symbols (CTOC/COP/2008/6) and link runs
 * are never touched.
 */
export type TypographyProfile = 'un-2009' | 'fr' | 'en';

const NBSP = '\u00a0';
const NNBSP = '\u202f';

/** Spans that must stay as they are: URLs, e-mail addresses, symbols, times. */
const PROTECTED = [
  /\b(?:https?|ftp|mailto):[^\s<>"]+/giu,
  /[^\s<>"()@«»;:,]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/gu,
  /\bwww\.[^\s<>"]+/giu,
  /\b[A-Z][A-Z0-9.]*(?:\/[A-Za-z0-9.()-]+)+/gu,
  /\b\d{1,2}:\d{2}(?::\d{2})?\b/gu,
];

type Cell = { ch: string; owner: number; locked: boolean };

const isSpace = (c: string | undefined) => c === ' ' || c === '\t';

/** Applies the French rules to a sequence of cells (one per code point). */
function frenchCells(cells: Cell[]): Cell[] {
  const text = cells.map((c) => c.ch).join('');
  // Map code-unit offsets of `text` to cell indexes (cells hold whole code points or one placeholder).
  const unitToCell: number[] = [];
  cells.forEach((c, k) => {
    for (let u = 0; u < c.ch.length; u++) unitToCell.push(k);
  });
  for (const re of PROTECTED) {
    for (const m of text.matchAll(re)) {
      // Punctuation that ends the sentence is not part of the URL or symbol.
      const length = m[0].replace(/[.,;:!?)»\ufffc]+$/u, '').length;
      if (length === 0) continue;
      const from = unitToCell[m.index]!;
      const to = unitToCell[m.index + length - 1]!;
      for (let k = from; k <= to; k++) cells[k]!.locked = true;
    }
  }
  const out: Cell[] = [];
  for (let k = 0; k < cells.length; k++) {
    const cell = cells[k]!;
    const { ch } = cell;
    const before = (space: string) => {
      // Replace an ordinary space before the sign, or insert one after a word.
      const prev = out[out.length - 1];
      if (prev && isSpace(prev.ch) && !prev.locked) prev.ch = space;
      else if (prev && prev.ch !== space && prev.ch !== '\n' && !/\s/u.test(prev.ch)) out.push({ ch: space, owner: cell.owner, locked: false });
    };
    if (cell.locked) {
      out.push(cell);
      continue;
    }
    const next = cells[k + 1]?.ch;
    if (ch === ':') {
      // Only a colon that ends a word: "Référence: X", not "10:30" or "http://".
      if (next === undefined || /\s/u.test(next)) before(NBSP);
      out.push(cell);
    } else if (ch === ';' || ch === '!' || ch === '?') {
      if (next === undefined || /[\s"»)]/u.test(next)) before(NNBSP);
      out.push(cell);
    } else if (ch === '»') {
      before(NNBSP);
      out.push(cell);
    } else if (ch === '«') {
      out.push(cell);
      const after = cells[k + 1];
      if (after && isSpace(after.ch)) after.ch = NNBSP;
      else if (after && after.ch !== NNBSP) out.push({ ch: NNBSP, owner: cell.owner, locked: false });
    } else {
      out.push(cell);
    }
  }
  return out;
}

/**
 * Applies a profile to the runs of one paragraph, item, cell or footnote. The runs are joined
 * first so a rule sees across a bold/plain boundary ("**Référence**: x").
 */
export function applyTypography(runs: Run[], profile: TypographyProfile): Run[] {
  if (profile !== 'fr') return runs;
  const cells: Cell[] = [];
  runs.forEach((run, owner) => {
    if (run.type === 'text') {
      // Link texts are URLs or e-mail addresses shown as is.
      for (const ch of run.text) cells.push({ ch, owner, locked: run.link !== undefined });
    } else {
      // Breaks end a line; a footnote mark stands for a non-space character.
      cells.push({ ch: run.type === 'break' ? '\n' : '\ufffc', owner, locked: true });
    }
  });
  const done = frenchCells(cells);
  const texts = runs.map(() => '');
  for (const c of done) texts[c.owner] += c.ch;
  return runs.map((run, k) => (run.type === 'text' ? { ...run, text: texts[k]! } : run));
}

/** The same rules on a plain string (UN document header lines). */
export function applyTypographyText(text: string, profile: TypographyProfile): string {
  const runs = applyTypography([{ type: 'text', text }], profile);
  return runs[0]?.type === 'text' ? runs[0].text : text;
}
