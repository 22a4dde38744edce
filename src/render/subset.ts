/**
 * TrueType subsetting for embedding, straight from the font file's tables: the tables a PDF
 * viewer needs for a CIDFontType2 (head, hhea, maxp, loca, glyf, hmtx, and the hinting tables when
 * present), the same set fontkit's subsetter writes, at a fraction of its cost (no glyph decoding:
 * glyph outlines are copied as bytes; only composite glyphs have their component ids renumbered).
 * Glyph 0 (.notdef) first, then the requested glyphs in the order given, then the components of
 * composite glyphs that were not requested.
 */

interface Table {
  offset: number;
  length: number;
}

interface Face {
  buf: Buffer;
  tables: Map<string, Table>;
  numGlyphs: number;
  numberOfHMetrics: number;
  locaLong: boolean;
}

const faces = new WeakMap<Buffer, Face>();

function parse(buf: Buffer): Face {
  const cached = faces.get(buf);
  if (cached) return cached;
  const tables = new Map<string, Table>();
  const n = buf.readUInt16BE(4);
  for (let i = 0; i < n; i++) {
    const at = 12 + 16 * i;
    tables.set(buf.toString('latin1', at, at + 4), { offset: buf.readUInt32BE(at + 8), length: buf.readUInt32BE(at + 12) });
  }
  for (const tag of ['head', 'hhea', 'maxp', 'loca', 'glyf', 'hmtx']) if (!tables.has(tag)) throw new Error(`font has no ${tag} table`);
  const face: Face = {
    buf,
    tables,
    numGlyphs: buf.readUInt16BE(tables.get('maxp')!.offset + 4),
    numberOfHMetrics: buf.readUInt16BE(tables.get('hhea')!.offset + 34),
    locaLong: buf.readInt16BE(tables.get('head')!.offset + 50) === 1,
  };
  faces.set(buf, face);
  return face;
}

function glyphRange(f: Face, gid: number): [number, number] {
  const loca = f.tables.get('loca')!.offset;
  const glyf = f.tables.get('glyf')!.offset;
  if (f.locaLong) return [glyf + f.buf.readUInt32BE(loca + 4 * gid), glyf + f.buf.readUInt32BE(loca + 4 * gid + 4)];
  return [glyf + 2 * f.buf.readUInt16BE(loca + 2 * gid), glyf + 2 * f.buf.readUInt16BE(loca + 2 * gid + 2)];
}

/** Positions (relative to the glyph) and ids of the components of a composite glyph. */
function components(glyph: Buffer): { pos: number; gid: number }[] {
  const out: { pos: number; gid: number }[] = [];
  let p = 10;
  for (;;) {
    const flags = glyph.readUInt16BE(p);
    out.push({ pos: p + 2, gid: glyph.readUInt16BE(p + 2) });
    p += 4 + (flags & 0x0001 ? 4 : 2);
    if (flags & 0x0008) p += 2;
    else if (flags & 0x0040) p += 4;
    else if (flags & 0x0080) p += 8;
    if (!(flags & 0x0020)) return out;
  }
}

function checksum(buf: Buffer, start: number, length: number): number {
  let sum = 0;
  const end = start + length;
  for (let p = start; p < end; p += 4) sum = (sum + buf.readUInt32BE(p)) >>> 0;
  return sum;
}

const pad4 = (n: number): number => (n + 3) & ~3;

/**
 * A font file holding .notdef and `gids` (and their components). Returns the bytes and each
 * requested glyph's index in the subset.
 */
export function subsetTrueType(file: Buffer, gids: readonly number[]): { bytes: Buffer; index: Map<number, number> } {
  const f = parse(file);
  const order: number[] = [0];
  const index = new Map<number, number>([[0, 0]]);
  for (const g of gids) {
    if (index.has(g) || g >= f.numGlyphs) continue;
    index.set(g, order.length);
    order.push(g);
  }
  const glyphs: Buffer[] = [];
  for (let i = 0; i < order.length; i++) {
    const [start, end] = glyphRange(f, order[i]!);
    let glyph = f.buf.subarray(start, end);
    if (glyph.length > 0 && glyph.readInt16BE(0) < 0) {
      glyph = Buffer.from(glyph); // a copy: component ids are rewritten below
      for (const c of components(glyph)) {
        if (!index.has(c.gid)) {
          index.set(c.gid, order.length);
          order.push(c.gid);
        }
        glyph.writeUInt16BE(index.get(c.gid)!, c.pos);
      }
    }
    glyphs.push(glyph);
  }

  // glyf and loca (long offsets), each glyph padded to 4 bytes.
  const glyfLength = glyphs.reduce((s, g) => s + pad4(g.length), 0);
  const glyf = Buffer.alloc(glyfLength);
  const loca = Buffer.alloc(4 * (order.length + 1));
  let offset = 0;
  glyphs.forEach((g, i) => {
    loca.writeUInt32BE(offset, 4 * i);
    g.copy(glyf, offset);
    offset += pad4(g.length);
  });
  loca.writeUInt32BE(offset, 4 * order.length);

  // hmtx: a full metric for every glyph.
  const hmtxIn = f.tables.get('hmtx')!.offset;
  const hmtx = Buffer.alloc(4 * order.length);
  const lastAdvance = f.buf.readUInt16BE(hmtxIn + 4 * (f.numberOfHMetrics - 1));
  order.forEach((g, i) => {
    const advance = g < f.numberOfHMetrics ? f.buf.readUInt16BE(hmtxIn + 4 * g) : lastAdvance;
    const lsb = g < f.numberOfHMetrics ? f.buf.readInt16BE(hmtxIn + 4 * g + 2) : f.buf.readInt16BE(hmtxIn + 4 * f.numberOfHMetrics + 2 * (g - f.numberOfHMetrics));
    hmtx.writeUInt16BE(advance, 4 * i);
    hmtx.writeInt16BE(lsb, 4 * i + 2);
  });

  const copy = (tag: string): Buffer => {
    const t = f.tables.get(tag)!;
    return Buffer.from(f.buf.subarray(t.offset, t.offset + t.length));
  };
  const head = copy('head');
  head.writeUInt32BE(0, 8); // checkSumAdjustment, set once the file is assembled
  head.writeInt16BE(1, 50); // long loca offsets
  const hhea = copy('hhea');
  hhea.writeUInt16BE(order.length, 34);
  const maxp = copy('maxp');
  maxp.writeUInt16BE(order.length, 4);

  const out = new Map<string, Buffer>([
    ['glyf', glyf],
    ['head', head],
    ['hhea', hhea],
    ['hmtx', hmtx],
    ['loca', loca],
    ['maxp', maxp],
  ]);
  for (const tag of ['cvt ', 'fpgm', 'prep']) if (f.tables.has(tag)) out.set(tag, copy(tag));
  const tags = [...out.keys()].sort();

  // sfnt header and table directory, then the tables, each at a 4-byte boundary.
  const n = tags.length;
  let entrySelector = 0;
  while (2 ** (entrySelector + 1) <= n) entrySelector++;
  const searchRange = 16 * 2 ** entrySelector;
  const dirLength = 12 + 16 * n;
  const total = dirLength + tags.reduce((s, t) => s + pad4(out.get(t)!.length), 0);
  const bytes = Buffer.alloc(total);
  bytes.writeUInt32BE(0x00010000, 0);
  bytes.writeUInt16BE(n, 4);
  bytes.writeUInt16BE(searchRange, 6);
  bytes.writeUInt16BE(entrySelector, 8);
  bytes.writeUInt16BE(16 * n - searchRange, 10);
  let at = dirLength;
  let headAt = 0;
  tags.forEach((tag, i) => {
    const data = out.get(tag)!;
    data.copy(bytes, at);
    const e = 12 + 16 * i;
    bytes.write(tag, e, 'latin1');
    bytes.writeUInt32BE(checksum(bytes, at, pad4(data.length)), e + 4);
    bytes.writeUInt32BE(at, e + 8);
    bytes.writeUInt32BE(data.length, e + 12);
    if (tag === 'head') headAt = at;
    at += pad4(data.length);
  });
  bytes.writeUInt32BE((0xb1b0afba - checksum(bytes, 0, total)) >>> 0, headAt + 8);
  return { bytes, index };
}
