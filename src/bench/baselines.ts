/**
 * The two baselines of `chancery bench`: what a peer would write with plain pdfkit, without any
 * Chancery code. Both draw the same note (same words, A4, 11 pt, justified by pdfkit's own
 * text(), bold runs, hanging list labels, the addressee at the foot of page 1, "- n -" on
 * continuation pages):
 * - renderNaive: the Noto Serif TTFs registered from file in every document (pdfkit reads and
 *   parses them each time, then subsets and embeds them): the naive way with embedded fonts;
 * - renderTimes: pdfkit's built-in Times-Roman / Times-Bold (no embedding): pdfkit's own floor.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import PDFDocument from 'pdfkit';

/** The note as plain strings: what the baselines are given (merged beforehand, outside the timing). */
export interface PlainNote {
  title: string;
  blocks: PlainBlock[];
  /** Addressee lines, printed at the foot of page 1. */
  addressee: string[];
}

export interface PlainBlock {
  /** "i)", "a)": a hanging label; the text is set after it. */
  label?: string;
  runs: { text: string; bold: boolean }[];
  align: 'justify' | 'left';
}

interface Faces {
  regular: string;
  bold: string;
}

const CM = 72 / 2.54;
const LEFT = 2.5 * CM;
const TOP = 2.2 * CM;
const BOTTOM = 2 * CM;
const SIZE = 11;
const LINE_GAP = 1; // pdfkit's line height for 11 pt Noto Serif is ~15 pt; Times ~12.6 pt
const PARAGRAPH_GAP = 7;
const HANG = 34;

function draw(doc: PDFKit.PDFDocument, note: PlainNote, faces: Faces): void {
  const addresseeHeight = note.addressee.length * (SIZE + 3) + 28;
  // Page 1 keeps the addressee block free at its foot; later pages use the normal margin.
  doc.page.margins.bottom = BOTTOM + addresseeHeight;
  doc.font(faces.regular).fontSize(SIZE);
  let y = doc.page.height - BOTTOM - addresseeHeight + 28;
  for (const line of note.addressee) {
    doc.text(line, LEFT, y, { lineBreak: false });
    y += SIZE + 3;
  }
  let page = 1;
  doc.on('pageAdded', () => {
    page++;
    doc.page.margins.bottom = BOTTOM;
    const label = `- ${page} -`;
    doc.font(faces.regular).fontSize(10).text(label, 0, TOP / 2, { width: doc.page.width, align: 'center', lineBreak: false });
    doc.fontSize(SIZE);
    doc.x = LEFT;
    doc.y = TOP;
  });
  doc.x = LEFT;
  doc.y = TOP;
  for (const block of note.blocks) {
    const x = block.label ? LEFT + HANG : LEFT;
    if (block.label) {
      // The label on the first line, the text hanging after it.
      if (doc.y + SIZE * 2 > doc.page.height - doc.page.margins.bottom) doc.addPage();
      const top = doc.y;
      doc.font(faces.regular).text(block.label, LEFT, top, { lineBreak: false });
      doc.y = top;
    }
    block.runs.forEach((run, i) => {
      const last = i === block.runs.length - 1;
      doc.font(run.bold ? faces.bold : faces.regular).text(run.text, i === 0 ? x : undefined, i === 0 ? doc.y : undefined, {
        width: doc.page.width - LEFT - x,
        align: block.align,
        lineGap: LINE_GAP,
        continued: !last,
      });
    });
    doc.x = LEFT;
    doc.y += PARAGRAPH_GAP;
  }
}

function finish(doc: PDFKit.PDFDocument): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
}

function newDocument(title: string): PDFKit.PDFDocument {
  return new PDFDocument({ size: 'A4', margins: { top: TOP, bottom: BOTTOM, left: LEFT, right: LEFT }, info: { Title: title }, compress: true });
}

const notoDir = (): string => dirname(createRequire(import.meta.url).resolve('@expo-google-fonts/noto-serif/package.json'));

/** Noto Serif registered from its files in each document: pdfkit reads, parses, subsets, embeds. */
export async function renderNaive(note: PlainNote): Promise<Buffer> {
  const doc = newDocument(note.title);
  const done = finish(doc);
  const dir = notoDir();
  doc.registerFont('NotoSerif', join(dir, '400Regular/NotoSerif_400Regular.ttf'));
  doc.registerFont('NotoSerif-Bold', join(dir, '700Bold/NotoSerif_700Bold.ttf'));
  draw(doc, note, { regular: 'NotoSerif', bold: 'NotoSerif-Bold' });
  doc.end();
  return done;
}

/** pdfkit's built-in Times (standard 14 fonts, nothing embedded): the floor. */
export async function renderTimes(note: PlainNote): Promise<Buffer> {
  const doc = newDocument(note.title);
  const done = finish(doc);
  draw(doc, note, { regular: 'Times-Roman', bold: 'Times-Bold' });
  doc.end();
  return done;
}
