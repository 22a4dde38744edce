/**
 * Text measurement with the embedded faces. Widths are cached per face and string in em
 * (independent of size), across documents: the same static paragraphs recur for every recipient.
 */
import { fonts, type FontKey } from './fonts.ts';

const widthCache: Record<FontKey, Map<string, number>> = {
  regular: new Map(),
  bold: new Map(),
  italic: new Map(),
  boldItalic: new Map(),
};

/** Above this many entries a face's cache is cleared (bounded memory for long-running workers). */
const MAX_ENTRIES = 200_000;

/** Advance width of `text` in em (multiply by the size in points). */
export function widthEm(font: FontKey, text: string): number {
  const cache = widthCache[font];
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const face = fonts()[font];
  const w = face.layout(text).advanceWidth / face.unitsPerEm;
  if (cache.size >= MAX_ENTRIES) cache.clear();
  cache.set(text, w);
  return w;
}

export function widthOf(font: FontKey, size: number, text: string): number {
  return widthEm(font, text) * size;
}
