/**
 * Drawing: positioned items -> PDF bytes. No layout decisions here.
 *
 * pdfkit writes the document (objects, pages, annotations, metadata, cross-reference table); the
 * page content and the embedded fonts are written here directly, because pdfkit's text() shapes,
 * encodes and positions each fragment on its own (several operators per word) and subsets each
 * font anew in every document. Here:
 * - a line's words in one face go out as ONE TJ array (positions as TJ adjustments, from the
 *   shaped glyph advances, so the layout's x positions are kept exactly);
 * - the glyphs come from a per-process cache of shaped strings (glyphs.ts);
 * - each face is embedded as a subset cached by glyph set; CIDs are the face's own glyph ids, so
 *   a page's content does not depend on the rest of the document, and the compressed content of
 *   a page that is the same in every letter (the static pages of a note) is reused as is.
 * Deterministic: fixed Producer/Creator and dates, a document /ID derived from the input, and
 * bytes that depend only on the document (never on what the caches held before).
 */
import { deflateSync } from 'node:zlib';
import PDFDocument from 'pdfkit';
import { FONT_KEYS, fonts, verticalMetrics, type FontKey } from './fonts.ts';
import { A4, type DocumentLayout } from './flow.ts';
import { faceInfo, shape, subsetFor, type Shaped, type TjPiece } from './glyphs.ts';

/** Fixed so that the same input gives the same bytes (the audit records the PDF's SHA-256). */
export const FIXED_DATE = new Date(Date.UTC(2000, 0, 1, 0, 0, 0));

export interface DrawMeta {
  title: string;
  subject: string;
  language: string;
  /** 16 bytes for the trailer /ID (pdfkit would derive it from the info dictionary). */
  id: Uint8Array;
}

/** Resource names of the four faces on every page. */
const RESOURCE: Record<FontKey, string> = { regular: 'F1', bold: 'F2', italic: 'F3', boldItalic: 'F4' };

/** pdfkit internals used here: a page's content stream and resources, and ref(). */
interface PdfRef {
  end(chunk?: Uint8Array): void;
}
interface PdfStreamRef extends PdfRef {
  data: Record<string, unknown>;
  buffer: Uint8Array[];
  compress: boolean;
  write(chunk: Uint8Array): void;
}
interface PdfInternals {
  _id: Uint8Array;
  _offset: number;
  _write(data: string | Uint8Array): void;
  page: { content: PdfStreamRef; resources: { data: { Font?: Record<string, PdfRef> } } };
  ref(data?: Record<string, unknown>): PdfRef;
}

/** Compressed page contents by their text: the pages every letter shares are deflated once. */
const MAX_CONTENTS = 200;
const contentCache = new Map<string, Buffer>();

function deflateContent(content: string): Buffer {
  const hit = contentCache.get(content);
  if (hit) return hit;
  const bytes = deflateSync(Buffer.from(content, 'latin1'));
  if (contentCache.size >= MAX_CONTENTS) contentCache.clear();
  contentCache.set(content, bytes);
  return bytes;
}

export function clearContentCache(): void {
  contentCache.clear();
}

const HEX: string[] = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(4, '0'));
const hex = (cid: number): string => HEX[cid] ?? cid.toString(16).padStart(4, '0');

/** Numbers in content streams: fixed precision, no exponent, no "-0". */
function num(n: number, digits = 1000): string {
  const r = Math.round(n * digits) / digits;
  return r === 0 ? '0' : String(r);
}

/**
 * A run's TJ pieces: hex glyph ids and kerning adjustments, exactly as the per-glyph loop in
 * pageContent writes them. They depend only on the run (and its face), so they are built once per
 * cached run instead of once per glyph per document.
 */
function tjPieces(run: Shaped, upm: number): TjPiece[] {
  if (run.tj) return run.tj;
  const pieces: TjPiece[] = [];
  let hexRun = '';
  for (let i = 0; i < run.gids.length; i++) {
    hexRun += hex(run.gids[i]!);
    const kern = run.xAdvance[i]! - run.advance[i]!;
    if (kern !== 0) {
      if (hexRun !== '') pieces.push({ hex: hexRun });
      hexRun = '';
      pieces.push({ adjust: num((-kern * 1000) / upm, 100) });
    }
  }
  if (hexRun !== '') pieces.push({ hex: hexRun });
  run.tj = pieces;
  return pieces;
}

/** Per face used in a document: its embedded font object. */
interface FaceUse {
  ref: PdfRef;
}

/** Shapes every text item, collects each face's glyphs, embeds the subsets. */
function embedFonts(doc: PdfInternals, layout: DocumentLayout): { runs: (Shaped | undefined)[][]; faces: Map<FontKey, FaceUse> } {
  // Per page, the shaped run of each item (by index; undefined for rules and empty text).
  const runs: (Shaped | undefined)[][] = [];
  const seen = new Map<FontKey, Map<number, number[]>>();
  for (const page of layout.pages) {
    const pageRuns: (Shaped | undefined)[] = new Array(page.items.length);
    runs.push(pageRuns);
    for (let k = 0; k < page.items.length; k++) {
      const it = page.items[k]!;
      if (it.kind !== 'text' || it.text === '') continue;
      const run = shape(it.font, it.text);
      pageRuns[k] = run;
      let glyphs = seen.get(it.font);
      if (!glyphs) seen.set(it.font, (glyphs = new Map()));
      for (let i = 0; i < run.gids.length; i++) {
        const g = run.gids[i]!;
        if (g !== 0 && !glyphs.has(g)) glyphs.set(g, run.codePoints[i]!);
      }
    }
  }
  const faces = new Map<FontKey, FaceUse>();
  for (const key of FONT_KEYS) {
    const glyphs = seen.get(key);
    if (!glyphs) continue;
    const gids = [...glyphs.keys()].sort((a, b) => a - b);
    const entry = subsetFor(key, gids, gids.map((g) => glyphs.get(g)!));
    const info = faceInfo(key);
    const file = doc.ref({ Length1: entry.length1, Filter: 'FlateDecode' });
    file.end(entry.fontFile);
    const descriptor = doc.ref({
      Type: 'FontDescriptor',
      FontName: entry.name,
      Flags: info.flags,
      FontBBox: info.bbox,
      ItalicAngle: info.italicAngle,
      Ascent: info.ascent,
      Descent: info.descent,
      CapHeight: info.capHeight,
      XHeight: info.xHeight,
      StemV: 0,
      FontFile2: file,
    });
    descriptor.end();
    const cidToGid = doc.ref({ Filter: 'FlateDecode' });
    cidToGid.end(entry.cidToGid);
    const cidFont = doc.ref({
      Type: 'Font',
      Subtype: 'CIDFontType2',
      BaseFont: entry.name,
      CIDSystemInfo: { Registry: new String('Adobe'), Ordering: new String('Identity'), Supplement: 0 },
      FontDescriptor: descriptor,
      W: entry.widths,
      CIDToGIDMap: cidToGid,
    });
    cidFont.end();
    const toUnicode = doc.ref({ Filter: 'FlateDecode' });
    toUnicode.end(entry.toUnicode);
    const font = doc.ref({ Type: 'Font', Subtype: 'Type0', BaseFont: entry.name, Encoding: 'Identity-H', DescendantFonts: [cidFont], ToUnicode: toUnicode });
    font.end();
    faces.set(key, { ref: font });
  }
  return { runs, faces };
}

/**
 * One page's content. Text items on the same baseline in the same face and size, left to right,
 * join one TJ array; rules are stroked in between. Coordinates: PDF's own (origin bottom left).
 * CIDs are glyph ids, so the text depends on nothing but these items.
 */
function pageContent(items: DocumentLayout['pages'][number]['items'], runs: readonly (Shaped | undefined)[]): string {
  const H = A4.height;
  const out: string[] = [];
  let inText = false;
  let font: FontKey | undefined;
  let size = 0;
  /** Open TJ array: its baseline, and the pen's x after its last glyph (points). */
  const tj: string[] = [];
  let tjOpen = false;
  let lineY = 0;
  let pen = 0;
  let hexRun = '';

  const flushHex = (): void => {
    if (hexRun !== '') {
      tj.push(`<${hexRun}>`);
      hexRun = '';
    }
  };
  const closeTj = (): void => {
    if (!tjOpen) return;
    flushHex();
    out.push(`[${tj.join('')}] TJ`);
    tj.length = 0;
    tjOpen = false;
  };
  const openTj = (x: number, y: number): void => {
    closeTj();
    out.push(`1 0 0 1 ${num(x)} ${num(y)} Tm`);
    tjOpen = true;
    pen = x;
    lineY = y;
  };

  for (let n = 0; n < items.length; n++) {
    const it = items[n]!;
    if (it.kind === 'rule') {
      closeTj();
      if (inText) {
        out.push('ET');
        inText = false;
      }
      out.push(`${num(it.width)} w 0 G ${num(it.x1)} ${num(H - it.y1)} m ${num(it.x2)} ${num(H - it.y2)} l S`);
      continue;
    }
    const run = runs[n];
    if (!run) continue;
    if (!inText) {
      out.push('BT');
      inText = true;
      font = undefined;
    }
    if (it.font !== font || it.size !== size) {
      closeTj();
      out.push(`/${RESOURCE[it.font]} ${num(it.size)} Tf`);
      font = it.font;
      size = it.size;
    }
    const y = H - it.y;
    const k = 1000 / size;
    if (tjOpen && y === lineY && it.x >= pen - 1e-6) {
      // Same line: move the pen to this item with a TJ adjustment (thousandths of an em, leftwards).
      const gap = (it.x - pen) * k;
      if (Math.abs(gap) >= 0.005) {
        flushHex();
        tj.push(num(-gap, 100));
      }
      pen = it.x;
    } else {
      openTj(it.x, y);
    }
    const upm = faceInfo(it.font).unitsPerEm;
    const toPt = size / upm;
    if (!run.offsets) {
      // The usual case: the run's cached pieces, the pen moved glyph by glyph as below.
      for (const piece of tjPieces(run, upm)) {
        if ('hex' in piece) hexRun += piece.hex;
        else {
          flushHex();
          tj.push(piece.adjust);
        }
      }
      for (let i = 0; i < run.xAdvance.length; i++) pen += run.xAdvance[i]! * toPt;
      continue;
    }
    for (let i = 0; i < run.gids.length; i++) {
      const off = run.offsets[i];
      const c = run.gids[i]!;
      if (off && (off[0] !== 0 || off[1] !== 0)) {
        // A displaced glyph (a combining mark): drawn on its own, then the line resumes after it.
        const at = pen;
        openTj(at + off[0] * toPt, y + off[1] * toPt);
        hexRun = hex(c);
        openTj(at + run.xAdvance[i]! * toPt, y);
        continue;
      }
      hexRun += hex(c);
      pen += run.xAdvance[i]! * toPt;
      const kern = run.xAdvance[i]! - run.advance[i]!;
      if (kern !== 0) {
        flushHex();
        tj.push(num((-kern * 1000) / upm, 100));
      }
    }
  }
  closeTj();
  if (inText) out.push('ET');
  return `${out.join('\n')}\n`;
}

export function drawPdf(layout: DocumentLayout, meta: DrawMeta): Promise<Buffer> {
  const set = fonts();
  const doc = new PDFDocument({
    // Default font = our regular face: avoids parsing Helvetica's AFM for every document (never drawn with).
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
  const raw = doc as unknown as PdfInternals;
  // pdfkit computes /ID as an MD5 of the info dictionary; make it explicitly input-derived.
  raw._id = meta.id;
  // The document's bytes, kept here as pdfkit writes them. Its own _write turns each string into
  // bytes a character at a time in JavaScript and pushes every piece (a hundred or so a letter)
  // through its Readable stream, a Buffer copy each: a tenth of the renderer's time. Same bytes,
  // same offsets for the cross-reference table; the stream still ends (push(null)) as before.
  const chunks: Uint8Array[] = [];
  // What the constructor wrote (the header) is still in the stream's buffer: first.
  for (let head = doc.read() as Buffer | null; head !== null; head = doc.read() as Buffer | null) chunks.push(head);
  raw._write = (data) => {
    const bytes = typeof data === 'string' ? Buffer.from(`${data}\n`, 'latin1') : data;
    chunks.push(bytes);
    raw._offset += bytes.length;
  };
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const { runs, faces } = embedFonts(raw, layout);
  const { ascent, descent } = verticalMetrics();
  for (const [pageIndex, page] of layout.pages.entries()) {
    doc.addPage({ size: [A4.width, A4.height], margin: 0 });
    const resources: Record<string, PdfRef> = {};
    for (const [key, use] of faces) resources[RESOURCE[key]] = use.ref;
    raw.page.resources.data.Font = resources;
    // The page's stream, already compressed, replaces what pdfkit put there (its top-down
    // transform, which this content does not use): pdfkit writes it out as is.
    const content = raw.page.content;
    content.buffer = [];
    content.data = { Filter: 'FlateDecode' };
    content.compress = false;
    content.write(deflateContent(pageContent(page.items, runs[pageIndex]!)));
    const links: { url: string; x: number; y: number; w: number; h: number }[] = [];
    for (const it of page.items) {
      if (it.kind !== 'text' || !it.link) continue;
      // One annotation per stretch of a link on a line, not one per word.
      const last = links[links.length - 1];
      const top = it.y - ascent * it.size;
      if (last && last.url === it.link && Math.abs(last.y - top) < 0.01 && it.x >= last.x) last.w = it.x + it.width - last.x;
      else links.push({ url: it.link, x: it.x, y: top, w: it.width, h: (ascent - descent) * it.size });
    }
    for (const l of links) doc.link(l.x, l.y, l.w, l.h, l.url);
  }
  doc.end();
  return done;
}
