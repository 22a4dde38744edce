/**
 * Body blocks (paragraphs, headings, lists, tables) into the flow, with the measures given by the
 * layout (note verbale or UN document). Pure: produces positioned items, no pdfkit.
 */
import type { Block, HeadingBlock, ListBlock, ParagraphBlock, Run, TableBlock } from '../document/model.ts';
import { fontKey } from './fonts.ts';
import { Flow, baselineOffset, stackUnits, textUnits, translate, type DrawItem, type TextStyle, type Unit } from './flow.ts';
import { widthOf } from './measure.ts';

export interface BlockMeasures {
  body: TextStyle;
  /** Left edge of ordinary text and right edge of every line. */
  textLeft: number;
  textRight: number;
  /** Numbered paragraphs: the number at `numberLeft`, the text from `numberLeft + numberHang`. */
  numberLeft: number;
  numberHang: number;
  paragraphGap: number;
  itemGap: number;
  /** Minimum hanging width of list labels. */
  labelHang: number;
  headingStyle: (level: 1 | 2 | 3) => TextStyle;
  table: TextStyle;
  tablePad: number;
}

export function layoutBlocks(flow: Flow, blocks: readonly Block[], m: BlockMeasures): void {
  blocks.forEach((block, index) => {
    if (index > 0) flow.space(block.type === 'heading' ? m.paragraphGap * 1.5 : m.paragraphGap);
    switch (block.type) {
      case 'paragraph':
        paragraph(flow, block, m);
        break;
      case 'heading':
        heading(flow, block, m);
        break;
      case 'list':
        list(flow, block, m.textLeft, m);
        break;
      case 'table':
        table(flow, block, m);
        break;
      case 'addressee':
        // Only a note verbale moves it to the foot of page 1; elsewhere it is plain left-aligned lines.
        flow.placeLines(addressLines(block.lines, m.textLeft, m.textRight - m.textLeft, m.body));
        break;
    }
  });
}

export function plainLines(lines: readonly string[], x: number, style: TextStyle): Unit[] {
  const base = baselineOffset(style.size, style.leading);
  const font = fontKey(style.bold ?? false, style.italic ?? false);
  return lines.map((text) => ({
    height: style.leading,
    marks: [],
    items: [{ kind: 'text', text, font, size: style.size, x, y: base, width: widthOf(font, style.size, text) }],
  }));
}

/** Addressee lines, flush left; a line longer than the measure wraps with its words kept whole. */
export function addressLines(lines: readonly string[], x: number, width: number, style: TextStyle): Unit[] {
  return lines.flatMap((text) => textUnits([{ type: 'text', text }], x, width, style, 'left'));
}

function labelItem(label: string, x: number, style: TextStyle): DrawItem {
  const font = fontKey(style.bold ?? false, style.italic ?? false);
  return { kind: 'text', text: label, font, size: style.size, x, y: baselineOffset(style.size, style.leading), width: widthOf(font, style.size, label) };
}

/** Text with a hanging label ("1.", "a)", "•"): label on the first line, text aligned after it. */
function hanging(runs: readonly Run[], label: string, labelX: number, textX: number, right: number, style: TextStyle, align: 'justify' | 'left' | 'center' | 'right'): Unit[] {
  const units = textUnits(runs, textX, right - textX, style, align);
  const first = units[0];
  if (first) first.items.push(labelItem(label, labelX, style));
  else units.push({ height: style.leading, marks: [], items: [labelItem(label, labelX, style)] });
  return units;
}

function paragraph(flow: Flow, p: ParagraphBlock, m: BlockMeasures): void {
  const align = p.align ?? 'justify';
  if (p.number !== undefined) {
    const hang = Math.max(m.numberHang, widthOf('regular', m.body.size, p.number) + m.body.size * 0.5);
    flow.placeLines(hanging(p.runs, p.number, m.numberLeft, m.numberLeft + hang, m.textRight, m.body, align));
  } else {
    flow.placeLines(textUnits(p.runs, m.textLeft, m.textRight - m.textLeft, m.body, align));
  }
}

function heading(flow: Flow, h: HeadingBlock, m: BlockMeasures): void {
  const style = m.headingStyle(h.level);
  const units = textUnits(h.runs, m.textLeft, m.textRight - m.textLeft, style, 'left');
  if (units.length === 0) return;
  // Keep a heading with the first lines that follow it.
  if (!flow.atPageTop && !flow.fits(units, m.paragraphGap * 0.5 + 2 * m.body.leading)) flow.newPage();
  for (const u of units) flow.place(u);
  flow.y += m.paragraphGap * 0.5 - m.paragraphGap;
}

function list(flow: Flow, l: ListBlock, left: number, m: BlockMeasures): void {
  const widest = Math.max(0, ...l.items.map((it) => widthOf('regular', m.body.size, it.label)));
  const hang = Math.max(m.labelHang, widest + m.body.size * 0.6);
  l.items.forEach((item, i) => {
    if (i > 0) flow.space(m.itemGap);
    flow.placeLines(hanging(item.runs, item.label, left, left + hang, m.textRight, m.body, 'justify'));
    if (item.children && item.children.items.length > 0) {
      flow.space(m.itemGap);
      list(flow, item.children, left + hang, m);
    }
  });
}

function table(flow: Flow, t: TableBlock, m: BlockMeasures): void {
  const columns = Math.max(t.header.length, ...t.rows.map((r) => r.length), 1);
  const rel = Array.from({ length: columns }, (_, i) => {
    const w = t.widths?.[i];
    return w !== undefined && w > 0 ? w : 1;
  });
  const total = rel.reduce((s, w) => s + w, 0);
  const left = m.textLeft;
  const width = m.textRight - left;
  const xs: number[] = [];
  let acc = left;
  for (const w of rel) {
    xs.push(acc);
    acc += (w / total) * width;
  }
  xs.push(m.textRight);
  const pad = m.tablePad;
  const row = (cells: Run[][]): Unit => {
    let height = 0;
    const items: DrawItem[] = [];
    const marks: string[] = [];
    for (let c = 0; c < columns; c++) {
      const x0 = xs[c]! + (c === 0 ? 0 : pad);
      const x1 = xs[c + 1]! - (c === columns - 1 ? 0 : pad);
      const cell = stackUnits(textUnits(cells[c] ?? [], x0, Math.max(x1 - x0, 1), m.table, 'left'));
      items.push(...cell.items);
      marks.push(...cell.marks);
      height = Math.max(height, cell.height);
    }
    return { height: height + 2 * pad, items: translate(items, 0, pad), marks };
  };
  const rule = (y: number, w = 0.5): DrawItem => ({ kind: 'rule', x1: left, x2: m.textRight, y1: y, y2: y, width: w });
  const header = t.header.length > 0 ? row(t.header) : undefined;
  if (header) header.items.push(rule(0), rule(header.height));
  const rows = t.rows.map(row);
  const placeHeader = (): void => {
    if (header) flow.place(header);
    else flow.place({ height: 0, items: [rule(0)], marks: [] });
  };
  // Start the table where its header and first row fit together.
  const first = rows[0];
  if (!flow.atPageTop && !flow.fits(header && first ? [header, first] : header ? [header] : first ? [first] : [])) flow.newPage();
  placeHeader();
  for (const r of rows) {
    if (!flow.atPageTop && !flow.fits([r])) {
      flow.place({ height: 0, items: [rule(0)], marks: [] });
      flow.newPage();
      placeHeader();
    }
    flow.place(r);
  }
  flow.place({ height: 0, items: [rule(0)], marks: [] });
}


/** Every footnote mark referenced by a footnote-ref run in these blocks. */
export function referencedMarks(blocks: readonly Block[]): Set<string> {
  const out = new Set<string>();
  const runs = (rs: readonly Run[]): void => {
    for (const r of rs) if (r.type === 'footnote-ref') out.add(r.mark);
  };
  const listRuns = (l: ListBlock): void => {
    for (const it of l.items) {
      runs(it.runs);
      if (it.children) listRuns(it.children);
    }
  };
  for (const b of blocks) {
    if (b.type === 'paragraph' || b.type === 'heading') runs(b.runs);
    else if (b.type === 'list') listRuns(b);
    else if (b.type === 'table') for (const row of [b.header, ...b.rows]) for (const cell of row) runs(cell);
  }
  return out;
}
