/**
 * Glyph runs and embedded font subsets, cached across documents.
 *
 * Shaping a string with fontkit and building a TrueType subset were most of the cost of a document
 * when pdfkit did them per document. Here both are cached per process:
 * - the shaped run of each string, per face (the static paragraphs recur in every letter);
 * - the subset of each face for a given set of glyphs, with its compressed bytes, widths,
 *   CID-to-glyph map and ToUnicode map. The subset takes the used glyphs in ascending glyph-id
 *   order, so it depends only on WHICH glyphs a document uses, never on their order or on earlier
 *   documents: same document in, same bytes out, whether the cache was warm or cold.
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type * as fontkit from 'fontkit';
import { fontFiles, fonts, type FontKey } from './fonts.ts';
import { subsetTrueType } from './subset.ts';

/** One shaped string: per glyph its id, advance with kerning (xAdvance), own advance, offsets. */
export interface Shaped {
  gids: number[];
  /** Advance as positioned by the shaper (kerning included), font units. */
  xAdvance: number[];
  /** The glyph's own advance (what the PDF viewer applies), font units. */
  advance: number[];
  /** Per glyph [xOffset, yOffset] in font units, or null when every glyph sits on the pen. */
  offsets: [number, number][] | null;
  codePoints: number[][];
  /**
   * The run as it goes into a TJ array (draw.ts), built on first use and kept with the run: hex
   * glyph ids, with a kerning adjustment (a number string) between two hex pieces where the
   * shaper's advance differs from the glyph's own. Unset for runs with displaced glyphs.
   */
  tj?: TjPiece[];
}

/** A piece of a TJ array: hex glyph ids (no brackets) or an adjustment in thousandths of an em. */
export type TjPiece = { hex: string } | { adjust: string };

/** Bounded caches: cleared wholesale when full (a long-running worker must not grow). */
const MAX_SHAPED = 20_000;
const MAX_SUBSETS = 512;

const shapedCache: Record<FontKey, Map<string, Shaped>> = { regular: new Map(), bold: new Map(), italic: new Map(), boldItalic: new Map() };

export function shape(font: FontKey, text: string): Shaped {
  const cache = shapedCache[font];
  const hit = cache.get(text);
  if (hit) return hit;
  const face = fonts()[font];
  // fontkit caches one Glyph object per glyph id with the code points of its FIRST use in the
  // process (font.getGlyph), so `codePoints` would depend on what was shaped before (a glyph first
  // reached by decomposition or substitution keeps those code points), and the ToUnicode map built
  // from it would make pdftotext lose or change characters. A fresh cache for each new string
  // gives each glyph the code points it stands for here. Shaped runs are cached below.
  (face as unknown as { _glyphs: Record<number, unknown> })._glyphs = {};
  const run = face.layout(text);
  const n = run.glyphs.length;
  const out: Shaped = { gids: new Array(n), xAdvance: new Array(n), advance: new Array(n), offsets: null, codePoints: new Array(n) };
  for (let i = 0; i < n; i++) {
    const g = run.glyphs[i]!;
    const p = run.positions[i]!;
    out.gids[i] = g.id;
    out.xAdvance[i] = p.xAdvance;
    out.advance[i] = g.advanceWidth;
    out.codePoints[i] = g.codePoints;
    if (p.xOffset !== 0 || p.yOffset !== 0) {
      out.offsets ??= Array.from({ length: n }, (): [number, number] => [0, 0]);
      out.offsets[i] = [p.xOffset, p.yOffset];
    }
  }
  if (cache.size >= MAX_SHAPED) cache.clear();
  cache.set(text, out);
  return out;
}

/** What a document embeds for one face: everything but the PDF objects themselves. */
export interface SubsetEntry {
  /** "ABCDEF+NotoSerif": the tag is derived from the glyph set, as PDF subset names should be. */
  name: string;
  /** Deflated TrueType subset (glyphs renumbered compactly) and its uncompressed length. */
  fontFile: Buffer;
  length1: number;
  /** Deflated CIDToGIDMap: CID (= the face's own glyph id) -> glyph index in the subset. */
  cidToGid: Buffer;
  /** /W array: [firstCid [w w ...] firstCid [w ...] ...], widths in thousandths of an em. */
  widths: (number | number[])[];
  /** Deflated ToUnicode CMap. */
  toUnicode: Buffer;
}

const subsetCache = new Map<string, SubsetEntry>();

/**
 * The subset for these glyphs, cached by glyph set. `gids` ascending, without 0. CIDs are the
 * face's own glyph ids, so the content stream of a line does not depend on the other glyphs of the
 * document (a static page is the same bytes in every letter); the CIDToGIDMap stream maps them to
 * the compact subset. `codePoints[i]` is what gids[i] stands for (its first use in the document).
 */
export function subsetFor(font: FontKey, gids: readonly number[], codePoints: readonly (readonly number[])[]): SubsetEntry {
  let key: string = font;
  for (let i = 0; i < gids.length; i++) key += `;${gids[i]}:${codePoints[i]!.join(',')}`;
  const hit = subsetCache.get(key);
  if (hit) return hit;
  const face = fonts()[font];
  const { bytes: raw, index } = subsetTrueType(fontFiles()[font], gids);
  const map = Buffer.alloc(2 * ((gids[gids.length - 1] ?? 0) + 1));
  for (const g of gids) map.writeUInt16BE(index.get(g) ?? 0, 2 * g);
  const scale = 1000 / face.unitsPerEm;
  const widths: (number | number[])[] = [0, [face.getGlyph(0).advanceWidth * scale]];
  for (let i = 0; i < gids.length; i++) {
    const g = gids[i]!;
    const w = face.getGlyph(g).advanceWidth * scale;
    // Consecutive CIDs share one bracket.
    if (i > 0 && gids[i - 1] === g - 1) (widths[widths.length - 1] as number[]).push(w);
    else widths.push(g, [w]);
  }
  const tag = Array.from(createHash('sha256').update(key).digest().subarray(0, 6), (b) => String.fromCharCode(65 + (b % 26))).join('');
  const entry: SubsetEntry = {
    name: `${tag}+${face.postscriptName.replaceAll(' ', '_')}`,
    fontFile: deflateSync(raw),
    length1: raw.length,
    cidToGid: deflateSync(map),
    widths,
    toUnicode: deflateSync(Buffer.from(toUnicodeCmap(gids, codePoints), 'latin1')),
  };
  if (subsetCache.size >= MAX_SUBSETS) subsetCache.clear();
  subsetCache.set(key, entry);
  return entry;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

/** ToUnicode CMap: one bfchar line per CID (at most 100 per block, as the format requires). */
function toUnicodeCmap(gids: readonly number[], codePoints: readonly (readonly number[])[]): string {
  const entries = gids.map((g, i) => {
    const encoded: string[] = [];
    for (let value of codePoints[i]!) {
      if (value > 0xffff) {
        value -= 0x10000;
        encoded.push(hex4(((value >>> 10) & 0x3ff) | 0xd800));
        value = 0xdc00 | (value & 0x3ff);
      }
      encoded.push(hex4(value));
    }
    return `<${hex4(g)}> <${encoded.join('')}>`;
  });
  const blocks: string[] = [];
  for (let start = 0; start < entries.length; start += 100) {
    const chunk = entries.slice(start, start + 100);
    blocks.push(`${chunk.length} beginbfchar\n${chunk.join('\n')}\nendbfchar`);
  }
  return `/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo <<
  /Registry (Adobe)
  /Ordering (UCS)
  /Supplement 0
>> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000><ffff>
endcodespacerange
${blocks.join('\n')}
endcmap
CMapName currentdict /CMap defineresource pop
end
end
`;
}

/** The FontDescriptor values of a face (pdfkit's rules), computed once per face. */
export interface FaceInfo {
  flags: number;
  bbox: [number, number, number, number];
  italicAngle: number;
  ascent: number;
  descent: number;
  capHeight: number;
  xHeight: number;
  unitsPerEm: number;
}

const faceInfos: Partial<Record<FontKey, FaceInfo>> = {};

export function faceInfo(font: FontKey): FaceInfo {
  const cached = faceInfos[font];
  if (cached) return cached;
  const f = fonts()[font] as fontkit.Font;
  const scale = 1000 / f.unitsPerEm;
  const familyClass = (f['OS/2']?.sFamilyClass ?? 0) >> 8;
  let flags = 0;
  if (f.post.isFixedPitch) flags |= 1 << 0;
  if (familyClass >= 1 && familyClass <= 7) flags |= 1 << 1;
  flags |= 1 << 2;
  if (familyClass === 10) flags |= 1 << 3;
  if (f.head.macStyle.italic) flags |= 1 << 6;
  const info: FaceInfo = {
    flags,
    bbox: [f.bbox.minX * scale, f.bbox.minY * scale, f.bbox.maxX * scale, f.bbox.maxY * scale],
    italicAngle: f.italicAngle,
    ascent: f.ascent * scale,
    descent: f.descent * scale,
    capHeight: (f.capHeight || f.ascent) * scale,
    xHeight: (f.xHeight || 0) * scale,
    unitsPerEm: f.unitsPerEm,
  };
  faceInfos[font] = info;
  return info;
}

/** Forget every cached run and subset (the benchmark measures a campaign from a cold start). */
export function clearGlyphCaches(): void {
  for (const m of Object.values(shapedCache)) m.clear();
  subsetCache.clear();
}
