import { InputError } from '../errors.ts';

/**
 * Turns the bytes of a registry file (or an archived note to import as a template) into text,
 * refusing anything but UTF-8 with a message
 * that says what the file is and what to do: spreadsheets often save Windows-1252 or UTF-16,
 * and a silently mis-decoded "Côte d'Ivoire" would go out in a diplomatic note.
 */
export function decodeUtf8(file: string, bytes: Uint8Array): string {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    throw new InputError(`${file}: is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8`);
  }
  if (bytes.includes(0)) {
    const line = 1 + countNewlines(bytes, bytes.indexOf(0));
    throw new InputError(`${file}: line ${line}: contains a NUL byte (UTF-16 without a byte-order mark?); save it as UTF-8`);
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad !== undefined) {
    const line = 1 + countNewlines(bytes, bad);
    const hex = bytes[bad]!.toString(16).toUpperCase().padStart(2, '0');
    throw new InputError(`${file}: line ${line}: is not valid UTF-8 (byte 0x${hex} at offset ${bad}); save it as UTF-8`);
  }
  let text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  // A UTF-8 byte-order mark is what Excel writes; it is not part of the first column name.
  if (text.startsWith('\ufeff')) text = text.slice(1);
  return text;
}

function countNewlines(bytes: Uint8Array, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (bytes[i] === 0x0a) n++;
  return n;
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence, if any. */
export function firstInvalidUtf8(bytes: Uint8Array): number | undefined {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return i;
    }
    let cp = b & (0xff >> (need + 2));
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += need + 1;
  }
  return undefined;
}
