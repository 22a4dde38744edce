/**
 * UN document layout (seeds 000, 001, 002): header block on page 1 (symbol at top right over a
 * thick rule, issuing body at the left, distribution, date, language and original at the right,
 * a rule), session lines, then the body with numbered paragraphs whose numbers hang in the left
 * gutter, footnotes at the foot of the page that references them, tables across the text column.
 */
import type { MergedDocument, Run, UnDocumentHeader } from '../document/model.ts';
import { layoutBlocks, plainLines, referencedMarks, type BlockMeasures } from './blocks.ts';
import { A4, CM, Flow, stackUnits, textUnits, type DocumentLayout, type DrawItem, type Geometry, type PageLayout, type TextStyle, type Unit } from './flow.ts';
import { widthOf } from './measure.ts';

const GEOMETRY: Geometry = { left: 2.3 * CM, right: 2.3 * CM, top: 2.3 * CM, bottom: 2.2 * CM };
const BODY: TextStyle = { size: 10.5, leading: 13.5 };
const SMALL: TextStyle = { size: 10, leading: 12.5 };
const FOOTNOTE = { size: 9, leading: 11, markWidth: 14, gap: 2 };
/** Text column: numbers hang in the gutter between the margin and the column. */
const GUTTER = 1.25 * CM;

function measures(g: Geometry): BlockMeasures {
  return {
    body: BODY,
    textLeft: g.left + GUTTER,
    textRight: A4.width - g.right,
    numberLeft: g.left,
    numberHang: GUTTER,
    paragraphGap: 8,
    itemGap: 4,
    labelHang: 24,
    headingStyle: (level) =>
      level === 1 ? { size: 12.5, leading: 15.5, bold: true } : level === 2 ? { size: 10.5, leading: 13.5, bold: true } : { size: 10.5, leading: 13.5, italic: true },
    table: { size: 9.5, leading: 11.5 },
    tablePad: 3,
  };
}

/** A session line ending in a footnote mark ("... ordre du jour provisoire*") gets the mark raised. */
function sessionRuns(line: string, marks: string[]): Run[] {
  const mark = marks.find((m) => line.length > m.length && line.endsWith(m));
  if (!mark) return [{ type: 'text', text: line }];
  return [
    { type: 'text', text: line.slice(0, -mark.length) },
    { type: 'footnote-ref', mark },
  ];
}

function headerUnit(h: UnDocumentHeader, g: Geometry): Unit {
  const left = g.left;
  const right = A4.width - g.right;
  const items: DrawItem[] = [];
  let y = 0;
  if (h.symbol) {
    const size = 14;
    const width = widthOf('bold', size, h.symbol);
    items.push({ kind: 'text', text: h.symbol, font: 'bold', size, x: right - width, y: size, width });
    y = size + 6;
  }
  items.push({ kind: 'rule', x1: left, x2: right, y1: y, y2: y, width: 1.5 });
  y += 12;
  const columnX = left + (right - left) * 0.64;
  const body = stackUnits(textUnits([{ type: 'text', text: h.body, bold: true }], left, columnX - left - 18, { size: 13, leading: 16 }, 'left'));
  const side = stackUnits(plainLines([h.distribution, h.date, h.language, h.original].filter((s) => s !== ''), columnX, SMALL));
  for (const u of [body, side]) for (const it of u.items) items.push(it.kind === 'text' ? { ...it, y: it.y + y } : it);
  y += Math.max(body.height, side.height) + 8;
  items.push({ kind: 'rule', x1: left, x2: right, y1: y, y2: y, width: 0.75 });
  return { height: y + 14, items, marks: [] };
}

function continuationHeader(page: PageLayout, index: number, g: Geometry, symbol: string | undefined): void {
  if (index === 0) return;
  const size = 9.5;
  const y = g.top / 2 + size / 2;
  const num = `- ${index + 1} -`;
  const w = widthOf('regular', size, num);
  page.items.push({ kind: 'text', text: num, font: 'regular', size, x: (A4.width - w) / 2, y, width: w });
  if (symbol) page.items.push({ kind: 'text', text: symbol, font: 'bold', size, x: g.left, y, width: widthOf('bold', size, symbol) });
}

export function layoutUnDocument(doc: MergedDocument): DocumentLayout {
  const g = GEOMETRY;
  const m = measures(g);
  const flow = new Flow({
    geometry: g,
    footnotes: doc.footnotes,
    footnoteStyle: FOOTNOTE,
    onPage: (page, index) => continuationHeader(page, index, g, doc.header?.symbol),
  });
  if (doc.header) {
    flow.place(headerUnit(doc.header, g));
    const marks = doc.footnotes.map((f) => f.mark);
    for (const line of doc.header.session ?? []) {
      for (const u of textUnits(sessionRuns(line, marks), m.textLeft, m.textRight - m.textLeft, SMALL, 'left')) flow.place(u);
    }
    flow.space(16);
  }
  // A footnote nothing references (typically the header's "*" note) belongs to page 1.
  const referenced = referencedMarks(doc.blocks);
  const session = doc.header?.session ?? [];
  flow.placeNotesHere(doc.footnotes.map((f) => f.mark).filter((mk) => !referenced.has(mk) && !session.some((l) => l.endsWith(mk))));
  layoutBlocks(flow, doc.blocks, m);
  flow.placeNotesHere(flow.unplacedNotes());
  return flow.finish();
}
