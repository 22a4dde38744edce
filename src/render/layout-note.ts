/**
 * Note verbale layout (seed 004): A4, 2.5 cm side margins, 11 pt Noto Serif on 14 pt justified
 * (Noto Serif is wider than the original's Times: at 12 pt the two-page note ran to three), paragraphs set
 * apart by space (no first-line indent, so the reference line and the closing date line need no
 * special case), the addressee block flush left at the foot of page 1 (its height reserved there
 * so the body flows above it and on to page 2), "- n -" centred at the top of continuation pages.
 */
import type { AddresseeBlock, MergedDocument } from '../document/model.ts';
import { addressLines, layoutBlocks, type BlockMeasures } from './blocks.ts';
import { A4, CM, Flow, translate, type DocumentLayout, type Geometry, type PageLayout, type TextStyle } from './flow.ts';
import { widthOf } from './measure.ts';

const GEOMETRY: Geometry = { left: 2.5 * CM, right: 2.5 * CM, top: 2.2 * CM, bottom: 2 * CM };
const BODY: TextStyle = { size: 11, leading: 14 };
const FOOTNOTE = { size: 9.5, leading: 12, markWidth: 14, gap: 3 };
/** Space between the last body line of page 1 and the addressee block. */
const ADDRESSEE_GAP = 2 * BODY.leading;

export function noteMeasures(g: Geometry): BlockMeasures {
  return {
    body: BODY,
    textLeft: g.left,
    textRight: A4.width - g.right,
    numberLeft: g.left,
    numberHang: 34,
    paragraphGap: 7,
    itemGap: 4,
    labelHang: 34,
    headingStyle: (level) => ({ size: 11, leading: 14, bold: level < 3, italic: level === 3 }),
    table: { size: 10, leading: 12.5 },
    tablePad: 3,
  };
}

export function pageNumber(page: PageLayout, index: number, g: Geometry): void {
  if (index === 0) return;
  const text = `- ${index + 1} -`;
  const size = 10;
  const width = widthOf('regular', size, text);
  page.items.push({ kind: 'text', text, font: 'regular', size, x: (A4.width - width) / 2, y: g.top / 2 + size / 2, width });
}

export function layoutNote(doc: MergedDocument): DocumentLayout {
  const g = GEOMETRY;
  const addressee = doc.blocks.filter((b): b is AddresseeBlock => b.type === 'addressee').flatMap((b) => b.lines);
  const addressUnits = addressLines(addressee, g.left, A4.width - g.left - g.right, BODY);
  const addressHeight = addressUnits.length * BODY.leading;
  const flow = new Flow({
    geometry: g,
    footnotes: doc.footnotes,
    footnoteStyle: FOOTNOTE,
    reserve: (index) => (index === 0 && addressHeight > 0 ? addressHeight + ADDRESSEE_GAP : 0),
    onPage: (page, index) => pageNumber(page, index, g),
  });
  layoutBlocks(
    flow,
    doc.blocks.filter((b) => b.type !== 'addressee'),
    noteMeasures(g),
  );
  // Footnotes never referenced in the text: at the foot of the last page (a new one if full).
  flow.placeNotesHere(flow.unplacedNotes());
  // The addressee block sits on the bottom margin of page 1, whatever its place in the body.
  let y = A4.height - g.bottom - addressHeight;
  for (const u of addressUnits) {
    flow.addItems(translate(u.items, 0, y), 0);
    y += u.height;
  }
  return flow.finish();
}
