/**
 * Pure line breaking: runs -> words -> positioned lines. No pdfkit here, so a paragraph that is the
 * same for every recipient can be laid out once and reused.
 *
 * Words are measured with the embedded faces (measure.ts). A space typed at a run boundary belongs
 * to the gap between the two words, whichever run carried it, so "Genève **et**" keeps its space.
 * Lines are filled greedily and justified by spreading the slack over the inter-word gaps; the last
 * line of a paragraph and lines ending in a hard break are set flush left.
 */
import type { Run } from '../document/model.ts';
import { fontKey, type FontKey } from './fonts.ts';
import { widthOf } from './measure.ts';

/** A piece of a word with one style. `rise` lifts superscript footnote marks above the baseline. */
export interface Piece {
  text: string;
  font: FontKey;
  size: number;
  rise: number;
  link?: string;
  width: number;
}

/** An unbreakable unit between spaces; may mix styles ("**Vienne**," or "Groupe de travail¹"). */
export interface Word {
  pieces: Piece[];
  width: number;
  /** Width of the space that follows this word; 0 when none (end of paragraph, glued run). */
  space: number;
  /** A hard line break follows this word. */
  hardBreak: boolean;
  /** Footnote marks referenced inside this word. */
  marks: string[];
}

/** A positioned piece; `x` is relative to the start of the line box. */
export interface Frag {
  text: string;
  font: FontKey;
  size: number;
  rise: number;
  x: number;
  width: number;
  link?: string;
}

export interface Line {
  frags: Frag[];
  /** Footnote marks referenced on this line (for placing footnotes on the same page). */
  marks: string[];
}

export interface RunStyle {
  size: number;
  bold?: boolean;
  italic?: boolean;
}

export type Align = 'justify' | 'left' | 'center' | 'right';

export interface BreakOptions {
  /** Width available to every line, in points. */
  width: number;
  /** Extra indent of the first line (reduces its width). */
  firstIndent?: number;
  align: Align;
}

const EPS = 1e-6;
/** Characters already drawn raised (Unicode superscripts): printed at full size, not lifted again. */
const SUPERSCRIPT_CHARS = /^[\u00B9\u00B2\u00B3\u2070-\u209F]+$/u;
const SPACE = /[ \t\r\n]+/g;

function makePiece(text: string, font: FontKey, size: number, rise: number, link?: string): Piece {
  const piece: Piece = { text, font, size, rise, width: widthOf(font, size, text) };
  if (link !== undefined) piece.link = link;
  return piece;
}

/** Footnote mark style: "¹" is already a superscript glyph; "*", "1", "a" are set small and raised. */
export function markPiece(mark: string, base: RunStyle): Piece {
  const font = fontKey(base.bold ?? false, base.italic ?? false);
  if (SUPERSCRIPT_CHARS.test(mark)) return makePiece(mark, font, base.size, 0);
  return makePiece(mark, font, base.size * 0.7, base.size * 0.33);
}

/** Split runs into words. Pure apart from the width cache. */
export function wordsFromRuns(runs: readonly Run[], style: RunStyle): Word[] {
  const words: Word[] = [];
  let cur: Piece[] = [];
  let marks: string[] = [];
  const spaceWidth = (w: Piece[]): number => {
    const last = w[w.length - 1];
    // The gap takes the face of the word before it, at body size (not the size of a raised mark).
    return last ? widthOf(last.font, style.size, ' ') : 0;
  };
  const finish = (space: boolean, hard: boolean): void => {
    if (cur.length > 0) {
      words.push({
        pieces: cur,
        width: cur.reduce((s, p) => s + p.width, 0),
        space: space ? spaceWidth(cur) : 0,
        hardBreak: hard,
        marks,
      });
      cur = [];
      marks = [];
      return;
    }
    const prev = words[words.length - 1];
    if (hard) {
      // Two hard breaks in a row (or one at the start) make an empty line.
      if (!prev || prev.hardBreak) words.push({ pieces: [], width: 0, space: 0, hardBreak: true, marks: [] });
      else prev.hardBreak = true;
    } else if (space && prev && !prev.hardBreak && prev.space === 0) {
      // A space at the start of a run separates it from the previous word.
      prev.space = spaceWidth(prev.pieces);
    }
  };
  const append = (text: string, font: FontKey, size: number, rise: number, link?: string): void => {
    const last = cur[cur.length - 1];
    if (last && last.font === font && last.size === size && last.rise === rise && last.link === link) {
      cur[cur.length - 1] = makePiece(last.text + text, font, size, rise, link);
    } else {
      cur.push(makePiece(text, font, size, rise, link));
    }
  };

  for (const run of runs) {
    if (run.type === 'break') {
      finish(false, true);
    } else if (run.type === 'footnote-ref') {
      const p = markPiece(run.mark, style);
      append(p.text, p.font, p.size, p.rise);
      marks.push(run.mark);
    } else {
      const font = fontKey((style.bold ?? false) || (run.bold ?? false), (style.italic ?? false) !== (run.italic ?? false));
      let last = 0;
      for (const m of run.text.matchAll(SPACE)) {
        if (m.index > last) append(run.text.slice(last, m.index), font, style.size, 0, run.link);
        finish(true, false);
        last = m.index + m[0].length;
      }
      if (last < run.text.length) append(run.text.slice(last), font, style.size, 0, run.link);
    }
  }
  finish(false, false);
  return words;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/**
 * Break opportunities inside an over-long word (URLs, symbols): after these characters. Not after
 * '-': text extractors (pdftotext, screen readers) take a line ending in '-' for a hyphenated word
 * and join it without the hyphen, so a URL broken there would be copied wrong.
 */
const SOFT_BREAK_AFTER = new Set(['/', '.', '_', '?', '&', '=', '@']);

interface Unit {
  text: string;
  piece: Piece;
  width: number;
}

/**
 * A word wider than the line becomes several words joined without space (so a line may end
 * between them): cut after "/", "-", "." ..., and any part still too wide cut by grapheme.
 */
export function splitLongWord(word: Word, width: number): Word[] {
  const units: Unit[] = [];
  for (const p of word.pieces) {
    for (const { segment } of segmenter.segment(p.text)) {
      units.push({ text: segment, piece: p, width: widthOf(p.font, p.size, segment) });
    }
  }
  const parts: Unit[][] = [];
  let part: Unit[] = [];
  let w = 0;
  for (const u of units) {
    // At least one grapheme per part, so a glyph wider than the line cannot loop forever.
    if (part.length > 0 && w + u.width > width + EPS) {
      parts.push(part);
      part = [];
      w = 0;
    }
    part.push(u);
    w += u.width;
    if (SOFT_BREAK_AFTER.has(u.text)) {
      parts.push(part);
      part = [];
      w = 0;
    }
  }
  if (part.length > 0) parts.push(part);
  const chunks = parts.map(chunkWord);
  const last = chunks[chunks.length - 1];
  if (last) {
    last.space = word.space;
    last.hardBreak = word.hardBreak;
  }
  const first = chunks[0];
  if (first) first.marks = word.marks;
  return chunks;
}

function chunkWord(units: Unit[]): Word {
  const pieces: Piece[] = [];
  for (const u of units) {
    const last = pieces[pieces.length - 1];
    if (last && last.font === u.piece.font && last.size === u.piece.size && last.rise === u.piece.rise && last.link === u.piece.link) {
      last.text += u.text;
    } else {
      const p: Piece = { text: u.text, font: u.piece.font, size: u.piece.size, rise: u.piece.rise, width: 0 };
      if (u.piece.link !== undefined) p.link = u.piece.link;
      pieces.push(p);
    }
  }
  for (const p of pieces) p.width = widthOf(p.font, p.size, p.text);
  return { pieces, width: pieces.reduce((s, p) => s + p.width, 0), space: 0, hardBreak: false, marks: [] };
}

/**
 * Line breaking by total fit (minimum sum of squared badness over the paragraph, as TeX does in
 * spirit) rather than greedy: it avoids the very loose lines that greedy filling leaves with a
 * wide face such as Noto Serif. Hard breaks split the paragraph into independent segments.
 */
export function breakLines(input: readonly Word[], opts: BreakOptions): Line[] {
  const words: Word[] = [];
  for (const w of input) {
    if (w.width > opts.width + EPS) words.push(...splitLongWord(w, opts.width));
    else words.push(w);
  }
  const firstIndent = opts.firstIndent ?? 0;
  const lines: Line[] = [];
  let start = 0;
  for (let i = 0; i < words.length; i++) {
    if (!words[i]!.hardBreak && i < words.length - 1) continue;
    const segment = words.slice(start, i + 1);
    const first = start === 0;
    for (const [a, b] of totalFit(segment, opts.width, first ? firstIndent : 0)) {
      const index = lines.length;
      const last = b === segment.length;
      const indent = index === 0 ? firstIndent : 0;
      lines.push(position(segment.slice(a, b), opts.width - indent, indent, last ? alignUnjustified(opts.align) : opts.align));
    }
    start = i + 1;
  }
  return lines;
}

/** Best breaks of one segment, as [start, end) word ranges. */
function totalFit(ws: Word[], width: number, firstIndent: number): [number, number][] {
  const n = ws.length;
  const best = new Array<number>(n + 1).fill(Infinity);
  const from = new Array<number>(n + 1).fill(0);
  best[0] = 0;
  for (let j = 1; j <= n; j++) {
    let natural = 0;
    let stretch = 0;
    for (let i = j - 1; i >= 0; i--) {
      const w = ws[i]!;
      natural += w.width;
      if (i < j - 1 && w.space > 0) {
        natural += w.space;
        stretch += w.space;
      }
      const avail = width - (i === 0 ? firstIndent : 0);
      // A single word wider than the line (a glyph wider than the line) is allowed, at a price.
      if (natural > avail + EPS && i < j - 1) break;
      const base = best[i]!;
      if (base === Infinity) continue;
      const cost = base + lineCost(natural, avail, stretch, j === n);
      if (cost < best[j]!) {
        best[j] = cost;
        from[j] = i;
      }
    }
  }
  const ranges: [number, number][] = [];
  for (let j = n; j > 0; j = from[j]!) ranges.unshift([from[j]!, j]);
  return ranges;
}

function lineCost(natural: number, avail: number, stretch: number, last: boolean): number {
  if (natural > avail + EPS) return 1e8;
  if (last) return 0;
  const slack = avail - natural;
  // Lines without a space (inside a cut URL) cannot be justified; their slack counts as very loose.
  const r = Math.min(slack / (stretch > 0 ? stretch : avail * 0.05), 10);
  const badness = 100 * r * r * r;
  return (10 + badness) * (10 + badness);
}

function alignUnjustified(align: Align): Align {
  return align === 'justify' ? 'left' : align;
}

function position(words: Word[], avail: number, offset: number, align: Align): Line {
  let natural = 0;
  let gaps = 0;
  words.forEach((w, j) => {
    natural += w.width;
    if (j < words.length - 1 && w.space > 0) {
      natural += w.space;
      gaps++;
    }
  });
  const slack = Math.max(avail - natural, 0);
  const extra = align === 'justify' && gaps > 0 ? slack / gaps : 0;
  let x = offset + (align === 'center' ? slack / 2 : align === 'right' ? slack : 0);
  const frags: Frag[] = [];
  const marks: string[] = [];
  words.forEach((w, j) => {
    marks.push(...w.marks);
    w.pieces.forEach((p, k) => {
      const frag: Frag = { text: p.text, font: p.font, size: p.size, rise: p.rise, x, width: p.width };
      if (p.link !== undefined) frag.link = p.link;
      // Keep a real space glyph after the word so copied or extracted text has its spaces.
      if (k === w.pieces.length - 1 && j < words.length - 1 && w.space > 0) frag.text += ' ';
      frags.push(frag);
      x += p.width;
    });
    if (j < words.length - 1 && w.space > 0) x += w.space + extra;
  });
  return { frags, marks };
}
