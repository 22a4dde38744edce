/**
 * Page model and vertical flow, shared by the two layouts. Pure: blocks become boxes ("units")
 * that the flow stacks into pages, keeping footnotes on the page that references them and
 * leaving room for a reserved area at the foot of a page (the addressee block of a note verbale).
 */
import type { Footnote } from '../document/model.ts';
import { verticalMetrics, type FontKey } from './fonts.ts';
import { breakLines, wordsFromRuns, type Align, type Line, type RunStyle } from './linebreak.ts';

export const A4 = { width: 595.28, height: 841.89 };
export const CM = 72 / 2.54;

export interface TextItem {
  kind: 'text';
  text: string;
  font: FontKey;
  size: number;
  x: number;
  /** Baseline. */
  y: number;
  width: number;
  link?: string;
}

export interface RuleItem {
  kind: 'rule';
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  width: number;
}

export type DrawItem = TextItem | RuleItem;

export interface PageLayout {
  items: DrawItem[];
}

/** What layout gives draw: absolute positions on A4 pages, top-left origin. */
export interface DocumentLayout {
  pages: PageLayout[];
}

/** A box of fixed height; item coordinates are relative to its top-left corner. */
export interface Unit {
  height: number;
  items: DrawItem[];
  marks: string[];
}

export interface Geometry {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export interface TextStyle extends RunStyle {
  leading: number;
}

/** Baseline offset inside a line box of `leading` for text of `size`: the glyph box centred. */
export function baselineOffset(size: number, leading: number): number {
  const { ascent, descent } = verticalMetrics();
  return (leading - (ascent - descent) * size) / 2 + ascent * size;
}

/** One unit per line, with items at `x0` and the baseline inside the line box. */
export function linesToUnits(lines: Line[], x0: number, style: TextStyle): Unit[] {
  const base = baselineOffset(style.size, style.leading);
  return lines.map((line) => ({
    height: style.leading,
    marks: line.marks,
    items: line.frags.map((f) => {
      const item: TextItem = { kind: 'text', text: f.text, font: f.font, size: f.size, x: x0 + f.x, y: base - f.rise, width: f.width };
      if (f.link !== undefined) item.link = f.link;
      return item;
    }),
  }));
}

/**
 * The static paragraphs of a note are the same for every recipient: their positioned lines are
 * kept per process, keyed by everything that decides them (runs, measure, style, alignment), so a
 * campaign breaks each static paragraph once, not once per letter. Bounded; cleared when full.
 */
const MAX_CACHED_PARAGRAPHS = 1_000;
const unitCache = new Map<string, Unit[]>();

/** Forget the cached paragraph layouts (the benchmark measures a campaign from a cold start). */
export function clearLayoutCache(): void {
  unitCache.clear();
}

export function textUnits(runs: Parameters<typeof wordsFromRuns>[0], x0: number, width: number, style: TextStyle, align: Align, firstIndent = 0): Unit[] {
  const key = JSON.stringify([runs, x0, width, style.size, style.leading, style.bold ?? false, style.italic ?? false, align, firstIndent]);
  let units = unitCache.get(key);
  if (!units) {
    units = linesToUnits(breakLines(wordsFromRuns(runs, style), { width, align, firstIndent }), x0, style);
    if (unitCache.size >= MAX_CACHED_PARAGRAPHS) unitCache.clear();
    unitCache.set(key, units);
  }
  // Callers add items to the units they get (list labels) and never touch the items themselves:
  // fresh arrays around the shared, never-mutated items.
  return units.map((u) => ({ height: u.height, items: [...u.items], marks: [...u.marks] }));
}

export function translate(items: DrawItem[], dx: number, dy: number): DrawItem[] {
  return items.map((it) =>
    it.kind === 'text' ? { ...it, x: it.x + dx, y: it.y + dy } : { ...it, x1: it.x1 + dx, x2: it.x2 + dx, y1: it.y1 + dy, y2: it.y2 + dy },
  );
}

/** Stack several units into one (e.g. the lines of a table row, kept together). */
export function stackUnits(units: Unit[]): Unit {
  let y = 0;
  const items: DrawItem[] = [];
  const marks: string[] = [];
  for (const u of units) {
    items.push(...translate(u.items, 0, y));
    marks.push(...u.marks);
    y += u.height;
  }
  return { height: y, items, marks };
}

export interface FootnoteStyle extends TextStyle {
  /** Width of the hanging mark column. */
  markWidth: number;
  /** Space between two footnotes. */
  gap: number;
}

export interface FlowOptions {
  geometry: Geometry;
  footnotes: Footnote[];
  footnoteStyle: FootnoteStyle;
  /** Height kept free at the foot of page `index` (0-based), below the footnotes. */
  reserve?: (index: number) => number;
  /** Called when a page is opened, e.g. to add a page number. */
  onPage?: (page: PageLayout, index: number) => void;
}

/** Gap above the footnote separator and the separator's length. */
const NOTE_SEPARATOR_SPACE = 10;
const NOTE_SEPARATOR_LENGTH = 2 * 72;

interface OpenPage {
  layout: PageLayout;
  notes: string[];
  used: boolean;
}

export class Flow {
  readonly pages: OpenPage[] = [];
  y = 0;
  private readonly g: Geometry;
  private readonly notes = new Map<string, Unit>();
  private readonly placedNotes = new Set<string>();

  constructor(private readonly opts: FlowOptions) {
    this.g = opts.geometry;
    const s = opts.footnoteStyle;
    const width = A4.width - this.g.left - this.g.right - s.markWidth;
    for (const fn of opts.footnotes) {
      if (this.notes.has(fn.mark)) continue;
      const body = textUnits(fn.runs, this.g.left + s.markWidth, width, s, 'justify');
      const unit = stackUnits(body.length > 0 ? body : [{ height: s.leading, items: [], marks: [] }]);
      unit.items.unshift({
        kind: 'text',
        text: fn.mark,
        font: 'regular',
        size: s.size,
        x: this.g.left,
        y: baselineOffset(s.size, s.leading),
        width: 0,
      });
      this.notes.set(fn.mark, unit);
    }
    this.newPage();
  }

  get pageIndex(): number {
    return this.pages.length - 1;
  }

  private get page(): OpenPage {
    return this.pages[this.pages.length - 1]!;
  }

  get atPageTop(): boolean {
    return !this.page.used;
  }

  newPage(): void {
    const page: OpenPage = { layout: { items: [] }, notes: [], used: false };
    this.pages.push(page);
    this.y = this.g.top;
    this.opts.onPage?.(page.layout, this.pages.length - 1);
  }

  private notesHeight(marks: string[]): number {
    const list = marks.map((m) => this.notes.get(m)).filter((u): u is Unit => u !== undefined);
    if (list.length === 0) return 0;
    return NOTE_SEPARATOR_SPACE + list.reduce((s, u) => s + u.height, 0) + (list.length - 1) * this.opts.footnoteStyle.gap;
  }

  private newMarks(units: Unit[]): string[] {
    const out: string[] = [];
    for (const u of units) {
      for (const m of u.marks) {
        if (this.notes.has(m) && !this.placedNotes.has(m) && !this.page.notes.includes(m) && !out.includes(m)) out.push(m);
      }
    }
    return out;
  }

  /** Lowest y the body may reach on the current page with these footnotes on it. */
  private limit(marks: string[]): number {
    const reserve = this.opts.reserve?.(this.pageIndex) ?? 0;
    return A4.height - this.g.bottom - reserve - this.notesHeight(marks);
  }

  /** Would these units, stacked from the current position, fit on this page? */
  fits(units: Unit[], extra = 0): boolean {
    const h = units.reduce((s, u) => s + u.height, 0) + extra;
    return this.y + h <= this.limit([...this.page.notes, ...this.newMarks(units)]) + 1e-6;
  }

  /** Vertical space before a block; swallowed at the top of a page. */
  space(h: number): void {
    if (!this.atPageTop) this.y += h;
  }

  /** Place one unit, on a new page if it does not fit here (and this page has content). */
  place(unit: Unit): void {
    if (!this.atPageTop && !this.fits([unit])) this.newPage();
    const page = this.page;
    page.layout.items.push(...translate(unit.items, 0, this.y));
    for (const m of this.newMarks([unit])) {
      page.notes.push(m);
      this.placedNotes.add(m);
    }
    page.used = true;
    this.y += unit.height;
  }

  /** Place the lines of a paragraph, avoiding a lone first line at a page foot and a lone last line at a page top. */
  placeLines(units: Unit[]): void {
    const n = units.length;
    units.forEach((u, i) => {
      if (!this.atPageTop) {
        const next = units[i + 1];
        if (i === 0 && next && this.fits([u]) && !this.fits([u, next])) this.newPage();
        else if (i === n - 2 && i >= 2 && next && this.fits([u]) && !this.fits([u, next])) this.newPage();
      }
      this.place(u);
    });
  }

  /** Add items directly (header pieces, addressee) without moving the flow. */
  addItems(items: DrawItem[], pageIndex = this.pageIndex): void {
    this.pages[pageIndex]?.layout.items.push(...items);
  }

  /** Put footnotes that no line references on the current page (a new one if they do not fit). */
  placeNotesHere(marks: string[]): void {
    const todo = marks.filter((m) => this.notes.has(m) && !this.placedNotes.has(m));
    if (todo.length === 0) return;
    this.place({ height: 0, items: [], marks: todo });
  }

  unplacedNotes(): string[] {
    return [...this.notes.keys()].filter((m) => !this.placedNotes.has(m));
  }

  /** Draw every page's footnotes at its foot, above the reserved area, and return the layout. */
  finish(): DocumentLayout {
    this.pages.forEach((page, index) => {
      if (page.notes.length === 0) return;
      const reserve = this.opts.reserve?.(index) ?? 0;
      const bottom = A4.height - this.g.bottom - reserve;
      let y = bottom - this.notesHeight(page.notes) + NOTE_SEPARATOR_SPACE;
      page.layout.items.push({ kind: 'rule', x1: this.g.left, x2: this.g.left + NOTE_SEPARATOR_LENGTH, y1: y - 5, y2: y - 5, width: 0.5 });
      for (const m of page.notes) {
        const unit = this.notes.get(m)!;
        page.layout.items.push(...translate(unit.items, 0, y));
        y += unit.height + this.opts.footnoteStyle.gap;
      }
    });
    return { pages: this.pages.map((p) => p.layout) };
  }
}
