/**
 * Drawing: positioned items -> pdfkit calls -> PDF bytes. No layout decisions here.
 * Deterministic: fixed Producer/Creator and dates, and a document /ID derived from the input.
 */
import PDFDocument from 'pdfkit';
import { FONT_KEYS, fonts, verticalMetrics, type FontKey } from './fonts.ts';
import { A4, type DocumentLayout } from './flow.ts';

/** Fixed so that the same input gives the same bytes (the audit records the PDF's SHA-256). */
export const FIXED_DATE = new Date(Date.UTC(2000, 0, 1, 0, 0, 0));

export interface DrawMeta {
  title: string;
  subject: string;
  language: string;
  /** 16 bytes for the trailer /ID (pdfkit would derive it from the info dictionary). */
  id: Uint8Array;
}

const FONT_NAME: Record<FontKey, string> = {
  regular: 'NotoSerif',
  bold: 'NotoSerif-Bold',
  italic: 'NotoSerif-Italic',
  boldItalic: 'NotoSerif-BoldItalic',
};

/**
 * pdfkit keeps a per-document cache of shaped words (EmbeddedFont.layoutCache); shaping with
 * fontkit is most of the cost of a document. The shaped runs only depend on the parsed font, which
 * is shared, and pdfkit never mutates them after caching, so one cache per face serves every
 * document of the process. Bounded: dropped and restarted when it grows too large.
 */
const SHARED_LAYOUT_LIMIT = 50_000;
const sharedLayouts: Partial<Record<FontKey, { entries: Record<string, unknown>; size: number }>> = {};

function shareLayoutCache(doc: PDFKit.PDFDocument, key: FontKey): void {
  const font = (doc as unknown as { _font?: { layoutCache?: Record<string, unknown> } })._font;
  if (!font?.layoutCache) return;
  let shared = sharedLayouts[key];
  if (!shared || shared.size > SHARED_LAYOUT_LIMIT) {
    shared = { entries: Object.create(null) as Record<string, unknown>, size: 0 };
    sharedLayouts[key] = shared;
  }
  const entries = shared.entries;
  const counter = shared;
  // Count insertions so the bound above can be enforced without scanning the object.
  font.layoutCache = new Proxy(entries, {
    set(target, prop, value) {
      if (typeof prop === 'string' && !(prop in target)) counter.size++;
      target[prop as string] = value;
      return true;
    },
  });
}

export function drawPdf(layout: DocumentLayout, meta: DrawMeta): Promise<Buffer> {
  const set = fonts();
  const doc = new PDFDocument({
    // Default font = our regular face: avoids parsing Helvetica's AFM for every document.
    font: set.regular as unknown as string,
    size: 'A4',
    margin: 0,
    autoFirstPage: false,
    compress: true,
    lang: meta.language,
    displayTitle: true,
    info: {
      Title: meta.title,
      Subject: meta.subject,
      Producer: 'Chancery',
      Creator: 'Chancery',
      CreationDate: FIXED_DATE,
      ModDate: FIXED_DATE,
    },
  });
  // pdfkit computes /ID as an MD5 of the info dictionary; make it explicitly input-derived.
  (doc as unknown as { _id: Uint8Array })._id = meta.id;
  for (const key of FONT_KEYS) {
    // A parsed fontkit font is an accepted source (PDFFontFactory.open checks for `layout`).
    doc.registerFont(FONT_NAME[key], set[key] as unknown as Buffer);
  }
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const { ascent, descent } = verticalMetrics();
  const shared = new Set<FontKey>();
  for (const page of layout.pages) {
    doc.addPage({ size: [A4.width, A4.height], margin: 0 });
    const links: { url: string; x: number; y: number; w: number; h: number }[] = [];
    let font: FontKey | undefined;
    let size = 0;
    for (const it of page.items) {
      if (it.kind === 'rule') {
        doc.moveTo(it.x1, it.y1).lineTo(it.x2, it.y2).lineWidth(it.width).strokeColor('black').stroke();
        continue;
      }
      if (it.font !== font) {
        doc.font(FONT_NAME[it.font]);
        font = it.font;
        if (!shared.has(font)) {
          shareLayoutCache(doc, font);
          shared.add(font);
        }
      }
      if (it.size !== size) {
        doc.fontSize(it.size);
        size = it.size;
      }
      doc.text(it.text, it.x, it.y, { lineBreak: false, baseline: 'alphabetic' });
      if (it.link) {
        // One annotation per stretch of a link on a line, not one per word.
        const last = links[links.length - 1];
        const top = it.y - ascent * it.size;
        if (last && last.url === it.link && Math.abs(last.y - top) < 0.01 && it.x >= last.x) last.w = it.x + it.width - last.x;
        else links.push({ url: it.link, x: it.x, y: top, w: it.width, h: (ascent - descent) * it.size });
      }
    }
    for (const l of links) doc.link(l.x, l.y, l.w, l.h, l.url);
  }
  doc.end();
  return done;
}
