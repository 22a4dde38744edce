/**
 * Noto Serif (regular, bold, italic, bold italic) read from @expo-google-fonts/noto-serif and parsed
 * with fontkit ONCE per process. pdfkit 0.20 accepts a parsed fontkit font as a font source
 * (PDFFontFactory.open takes any object with a `layout` function), so every document reuses the
 * parsed tables and only builds its own subset.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as fontkit from 'fontkit';

export type FontKey = 'regular' | 'bold' | 'italic' | 'boldItalic';

export const FONT_KEYS: readonly FontKey[] = ['regular', 'bold', 'italic', 'boldItalic'];

const FILES: Record<FontKey, string> = {
  regular: '400Regular/NotoSerif_400Regular.ttf',
  bold: '700Bold/NotoSerif_700Bold.ttf',
  italic: '400Regular_Italic/NotoSerif_400Regular_Italic.ttf',
  boldItalic: '700Bold_Italic/NotoSerif_700Bold_Italic.ttf',
};

export type FontSet = Record<FontKey, fontkit.Font>;

let cache: FontSet | undefined;
let files: Record<FontKey, Buffer> | undefined;

function packageDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@expo-google-fonts/noto-serif/package.json'));
}

/** The four font files as read from disk (subset.ts copies glyphs from them). */
export function fontFiles(): Record<FontKey, Buffer> {
  if (files) return files;
  const dir = packageDir();
  const read = (key: FontKey): Buffer => readFileSync(join(dir, FILES[key]));
  files = { regular: read('regular'), bold: read('bold'), italic: read('italic'), boldItalic: read('boldItalic') };
  return files;
}

/** The four parsed faces; read from disk and parsed on first call only. */
export function fonts(): FontSet {
  if (cache) return cache;
  const f = fontFiles();
  cache = { regular: fontkit.create(f.regular), bold: fontkit.create(f.bold), italic: fontkit.create(f.italic), boldItalic: fontkit.create(f.boldItalic) };
  return cache;
}

export function fontKey(bold: boolean, italic: boolean): FontKey {
  if (bold) return italic ? 'boldItalic' : 'bold';
  return italic ? 'italic' : 'regular';
}

/** Ascent and descent in em (descent negative); the four faces share them. */
export function verticalMetrics(): { ascent: number; descent: number } {
  const f = fonts().regular;
  return { ascent: f.ascent / f.unitsPerEm, descent: f.descent / f.unitsPerEm };
}
