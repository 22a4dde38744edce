import type { Block, Footnote, ListBlock, ListItem, ListStyle, Run, TableBlock, TextRun } from '../document/model.ts';
import { InputError } from '../errors.ts';
import { ASCII_PUNCTUATION } from './escape.ts';

/**
 * The Markdown subset of template bodies (see templates/README.md), parsed AFTER placeholders
 * are filled, into the Block/Run model of src/document/model.ts.
 *
 * Blocks (separated by blank lines):
 *   # / ## / ### heading
 *   paragraph; a line ending in two spaces is a hard line break
 *   "1. text" standing alone            -> numbered paragraph (ParagraphBlock.number "1.")
 *   "1. a" / "2. b" on consecutive lines -> decimal list (may hold a nested list: " - a) x")
 *   "- text"                             -> bullet list
 *   "a) text" or "- a) text"             -> lettered list; "i) ..." / "- iv) ..." -> roman list
 *   | a | b |  GFM pipe table; dashes of the delimiter row give relative column widths
 *   [^*]: text / [^1]: text              -> footnote definition (printed "*", "¹")
 *   ::: addressee ... :::                -> addressee block, one address line a line, empty ones dropped
 * Inline: **bold**, *italic*, [^*] footnote references, [text](https://... | mailto:...),
 *   <https://...>, <name@example.org>, and backslash escapes of any ASCII punctuation.
 * Anything else is literal text.
 */

export type ParseOptions = {
  /** File named in errors. */
  file: string;
  /** Lines before the body (front matter), so errors name the line of the file. */
  lineOffset: number;
  /** Footnote marks referenced outside the body (the UN document header), e.g. "*". */
  externalRefs?: string[];
};

export type ParsedBody = { blocks: Block[]; footnotes: Footnote[] };

const SUPERSCRIPT_DIGITS = '⁰¹²³⁴⁵⁶⁷⁸⁹';

/** "[^1]" is printed "¹", "[^*]" as "*". */
export function footnoteMark(label: string): string | undefined {
  if (/^\*{1,3}$/.test(label) || label === '†' || label === '‡') return label;
  if (/^\d{1,3}$/.test(label)) return [...label].map((d) => SUPERSCRIPT_DIGITS[Number(d)]).join('');
  return undefined;
}

const ROMAN = /^(?=[ivxlc])(c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$/;

type ItemMatch = {
  indent: number;
  kind: 'bullet' | 'letter' | 'roman' | 'ambiguous' | 'decimal';
  marker: string;
  text: string;
};

function matchItem(line: string): ItemMatch | undefined {
  let m = /^( *)(?:- +)?([a-z]{1,6})\)(?: +(.*))?$/.exec(line);
  if (m) {
    const marker = m[2]!;
    const kind = marker.length === 1 ? (/[ivxlcdm]/.test(marker) ? 'ambiguous' : 'letter') : ROMAN.test(marker) ? 'roman' : undefined;
    if (kind) return { indent: m[1]!.length, kind, marker, text: m[3] ?? '' };
  }
  m = /^( *)(\d{1,3})\.(?: +(.*))?$/.exec(line);
  if (m) return { indent: m[1]!.length, kind: 'decimal', marker: m[2]!, text: m[3] ?? '' };
  m = /^( *)- +(.*)$/.exec(line);
  if (m) return { indent: m[1]!.length, kind: 'bullet', marker: '-', text: m[2]! };
  return undefined;
}

function styleOf(item: ItemMatch): ListStyle {
  switch (item.kind) {
    case 'bullet':
      return 'bullet';
    case 'decimal':
      return 'decimal';
    case 'roman':
      return 'roman';
    case 'letter':
      return 'alpha';
    case 'ambiguous':
      // A list that starts at "i)" is roman; one that starts at "v)" or "c)" is lettered.
      return item.marker === 'i' ? 'roman' : 'alpha';
  }
}

function fits(style: ListStyle, item: ItemMatch): boolean {
  switch (style) {
    case 'bullet':
      return item.kind === 'bullet';
    case 'decimal':
      return item.kind === 'decimal';
    case 'alpha':
      return item.kind === 'letter' || item.kind === 'ambiguous';
    case 'roman':
      return item.kind === 'roman' || (item.kind === 'ambiguous' && ROMAN.test(item.marker));
  }
}

function labelOf(style: ListStyle, item: ItemMatch): string {
  if (style === 'bullet') return '•';
  if (style === 'decimal') return `${item.marker}.`;
  return `${item.marker})`;
}

const isBlank = (line: string) => /^[ \t]*$/.test(line);
const HEADING = /^(#{1,6}) +(.*)$/;
const FOOTNOTE_DEF = /^\[\^([^\]\s]+)\]:[ \t]*(.*)$/;
const FENCE = /^:::/;
const isTableLine = (line: string) => line.startsWith('|');
const startsBlock = (line: string) => HEADING.test(line) || FOOTNOTE_DEF.test(line) || FENCE.test(line) || isTableLine(line);

/**
 * Joins the lines of one paragraph or item: a soft break becomes a space, a line ending in two
 * spaces a hard break ("\n", turned into a BreakRun by parseInline). Only ASCII spaces and tabs
 * are trimmed, so a no-break space coming from a value survives.
 */
function joinLines(lines: string[]): string {
  let out = '';
  lines.forEach((line, i) => {
    const hard = / {2,}$/.test(line);
    const content = line.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
    out += content;
    if (i < lines.length - 1) out += hard ? '\n' : ' ';
  });
  return out;
}

/** Index of the `close` character matching the one at `open`, skipping backslash escapes; -1 if none. */
function findUnescaped(src: string, from: number, close: string, open?: string): number {
  let depth = 0;
  for (let i = from; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (open && c === open) depth++;
    else if (c === close) {
      if (depth === 0) return i;
      depth--;
    }
    if (c === '\n') return -1;
  }
  return -1;
}

const unescape = (s: string) => s.replace(/\\([!-/:-@[-`{-~])/g, '$1');

function checkUrl(url: string, fail: (msg: string) => never): string {
  if (/^https?:\/\/[^\s<>"]+$/i.test(url) || /^mailto:[^\s<>"@]+@[^\s<>"@]+$/i.test(url)) return url;
  return fail(`link target "${url}" is not allowed (only http://, https:// and mailto: links)`);
}

/** Parses inline markup of one paragraph, item, cell or footnote into runs. */
export function parseInline(src: string, fail: (msg: string) => never): Run[] {
  const runs: Run[] = [];
  let bold = false;
  let italic = false;
  let buf = '';
  const style = (): Omit<TextRun, 'type' | 'text'> => ({ ...(bold ? { bold: true } : {}), ...(italic ? { italic: true } : {}) });
  const flush = () => {
    if (buf) runs.push({ type: 'text', text: buf, ...style() });
    buf = '';
  };
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === '\\' && next !== undefined && ASCII_PUNCTUATION.test(next)) {
      buf += next;
      i += 2;
      continue;
    }
    if (c === '\n') {
      flush();
      runs.push({ type: 'break' });
      i++;
      continue;
    }
    if (c === '*') {
      flush();
      if (next === '*') {
        bold = !bold;
        i += 2;
      } else {
        italic = !italic;
        i++;
      }
      continue;
    }
    if (c === '[') {
      const fn = /^\[\^([^\]\s]+)\]/.exec(src.slice(i, i + 12));
      if (fn) {
        const mark = footnoteMark(fn[1]!);
        if (!mark) fail(`footnote label [^${fn[1]}] is not allowed (use [^*] or a number such as [^1])`);
        flush();
        runs.push({ type: 'footnote-ref', mark: mark! });
        i += fn[0].length;
        continue;
      }
      const close = findUnescaped(src, i + 1, ']', '[');
      if (close > 0 && src[close + 1] === '(') {
        const end = findUnescaped(src, close + 2, ')', '(');
        if (end < 0) fail('unclosed link: "](" without ")"');
        const text = unescape(src.slice(i + 1, close));
        const url = checkUrl(unescape(src.slice(close + 2, end)).trim(), fail);
        flush();
        runs.push({ type: 'text', text, link: url, ...style() });
        i = end + 1;
        continue;
      }
    }
    if (c === '<') {
      const auto = /^<((?:https?:\/\/|mailto:)[^\s<>]+|[^\s<>@\\]+@[^\s<>@\\]+)>/i.exec(src.slice(i));
      if (auto) {
        const target = unescape(auto[1]!);
        flush();
        const link = target.includes('://') || /^mailto:/i.test(target) ? checkUrl(target, fail) : checkUrl(`mailto:${target}`, fail);
        runs.push({ type: 'text', text: target.replace(/^mailto:/i, ''), link, ...style() });
        i += auto[0].length;
        continue;
      }
    }
    buf += c;
    i++;
  }
  flush();
  if (bold) fail('unclosed ** (bold): write \\* for a literal asterisk');
  if (italic) fail('unclosed * (italic): write \\* for a literal asterisk');
  return mergeRuns(runs);
}

/** Adjacent text runs of the same style become one. */
export function mergeRuns(runs: Run[]): Run[] {
  const out: Run[] = [];
  for (const run of runs) {
    const prev = out[out.length - 1];
    if (run.type === 'text' && run.text === '') continue;
    if (
      run.type === 'text' &&
      prev?.type === 'text' &&
      !!prev.bold === !!run.bold &&
      !!prev.italic === !!run.italic &&
      prev.link === run.link &&
      run.link === undefined
    ) {
      out[out.length - 1] = { ...prev, text: prev.text + run.text };
    } else {
      out.push(run);
    }
  }
  return out;
}

/** Plain text of runs (addressee lines, table checks, tests). */
export function runsText(runs: Run[]): string {
  return runs.map((r) => (r.type === 'text' ? r.text : r.type === 'break' ? '\n' : r.mark)).join('');
}

function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === '|') {
      cells.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  cells.push(cur.trim());
  return cells;
}

class BodyParser {
  private readonly lines: string[];
  private i = 0;
  private readonly refLines = new Map<string, number>();
  constructor(
    text: string,
    private readonly opts: ParseOptions,
  ) {
    this.lines = text.replace(/\r\n?/g, '\n').split('\n');
  }

  private fail(lineIndex: number, msg: string): never {
    throw new InputError(`${this.opts.file}: line ${this.opts.lineOffset + lineIndex + 1}: ${msg}`);
  }

  private inline(src: string, lineIndex: number): Run[] {
    const runs = parseInline(src, (msg) => this.fail(lineIndex, msg));
    for (const r of runs) if (r.type === 'footnote-ref' && !this.refLines.has(r.mark)) this.refLines.set(r.mark, lineIndex);
    return runs;
  }

  parse(): ParsedBody {
    const blocks: Block[] = [];
    const footnotes: Footnote[] = [];
    const defLines = new Map<string, number>();
    const { lines } = this;
    while (this.i < lines.length) {
      const start = this.i;
      const line = lines[start]!;
      if (isBlank(line)) {
        this.i++;
        continue;
      }
      if (FENCE.test(line)) {
        blocks.push(this.addressee());
        continue;
      }
      const h = HEADING.exec(line);
      if (h) {
        if (h[1]!.length > 3) this.fail(start, 'only #, ## and ### headings are supported');
        blocks.push({ type: 'heading', level: h[1]!.length as 1 | 2 | 3, runs: this.inline(h[2]!.trim(), start) });
        this.i++;
        continue;
      }
      const fd = FOOTNOTE_DEF.exec(line);
      if (fd) {
        const mark = footnoteMark(fd[1]!) ?? this.fail(start, `footnote label [^${fd[1]}] is not allowed (use [^*] or a number such as [^1])`);
        if (defLines.has(mark)) this.fail(start, `footnote [^${fd[1]}] is defined twice`);
        defLines.set(mark, start);
        const text = [fd[2]!, ...this.continuation(start + 1, true)];
        footnotes.push({ mark, runs: this.inline(joinLines(text), start) });
        continue;
      }
      if (isTableLine(line)) {
        blocks.push(this.table());
        continue;
      }
      const item = matchItem(line);
      if (item && item.indent === 0) {
        if (item.kind === 'decimal' && !this.isDecimalList(start)) {
          const text = [item.text, ...this.continuation(start + 1, false)];
          blocks.push({ type: 'paragraph', number: `${item.marker}.`, runs: this.inline(joinLines(text), start) });
          continue;
        }
        blocks.push(this.list(0));
        continue;
      }
      const text = [line, ...this.continuation(start + 1, false)];
      blocks.push({ type: 'paragraph', runs: this.inline(joinLines(text), start) });
    }
    for (const [mark, at] of this.refLines) if (!defLines.has(mark)) this.fail(at, `footnote reference ${mark} has no definition ([^...]: text)`);
    const external = new Set(this.opts.externalRefs ?? []);
    for (const [mark, at] of defLines) {
      if (!this.refLines.has(mark) && !external.has(mark)) this.fail(at, `footnote ${mark} is defined but never referenced`);
    }
    return { blocks, footnotes };
  }

  /** Lines continuing a paragraph from `from`: up to a blank line or the start of another block. */
  private continuation(from: number, stopAtItems: boolean): string[] {
    const out: string[] = [];
    this.i = from;
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (isBlank(line) || startsBlock(line)) break;
      if (stopAtItems && matchItem(line)) break;
      out.push(line);
      this.i++;
    }
    return out;
  }

  /** "1." lines form a list when two or more stand on consecutive lines or one holds a nested list. */
  private isDecimalList(start: number): boolean {
    let count = 0;
    for (let j = start; j < this.lines.length && !isBlank(this.lines[j]!); j++) {
      const m = matchItem(this.lines[j]!);
      if (!m) continue;
      if (m.indent > 0) return true;
      if (m.kind === 'decimal') count++;
    }
    return count >= 2;
  }

  private list(indent: number): ListBlock {
    const { lines } = this;
    const first = matchItem(lines[this.i]!)!;
    const style = styleOf(first);
    const items: ListItem[] = [];
    while (this.i < lines.length) {
      let line = lines[this.i]!;
      if (isBlank(line)) {
        // A blank line between items of the same list (a "loose" list) does not end it,
        // except in a decimal list, where blank-separated "1." lines are numbered paragraphs.
        let j = this.i;
        while (j < lines.length && isBlank(lines[j]!)) j++;
        const m = j < lines.length ? matchItem(lines[j]!) : undefined;
        if (style === 'decimal' || !m || m.indent !== indent || !fits(style, m)) break;
        this.i = j;
        line = lines[j]!;
      }
      const m = matchItem(line);
      if (!m || m.indent !== indent || !fits(style, m)) break;
      const at = this.i;
      const text = [m.text];
      let children: ListBlock | undefined;
      this.i++;
      while (this.i < lines.length) {
        const next = lines[this.i]!;
        if (isBlank(next) || startsBlock(next)) break;
        const sub = matchItem(next);
        if (sub && sub.indent <= indent) break;
        if (sub && !children) {
          children = this.list(sub.indent);
          continue;
        }
        if (sub) this.fail(this.i, 'a list may be nested one level only, right under its item');
        text.push(next);
        this.i++;
      }
      items.push({ label: labelOf(style, m), runs: this.inline(joinLines(text), at), ...(children ? { children } : {}) });
    }
    return { type: 'list', style, items };
  }

  private table(): TableBlock {
    const start = this.i;
    const rows: string[][] = [];
    while (this.i < this.lines.length && isTableLine(this.lines[this.i]!)) rows.push(splitRow(this.lines[this.i++]!));
    const delimiter = rows[1];
    if (!delimiter || !delimiter.every((c) => /^:?-+:?$/.test(c))) {
      this.fail(start + 1, 'a table needs a delimiter row under its header, e.g. | --- | --- |');
    }
    const columns = delimiter.length;
    const cells = (row: string[], lineIndex: number): Run[][] => {
      if (row.length > columns) this.fail(lineIndex, `table row has ${row.length} cells, the table has ${columns} columns`);
      return Array.from({ length: columns }, (_, k) => this.inline(row[k] ?? '', lineIndex));
    };
    const header = cells(rows[0]!, start);
    const body = rows.slice(2).map((row, k) => cells(row, start + 2 + k));
    const widths = delimiter.map((c) => c.replace(/:/g, '').length);
    return {
      type: 'table',
      header: header.every((c) => c.length === 0) ? [] : header,
      rows: body,
      ...(widths.every((w) => w === widths[0]) ? {} : { widths }),
    };
  }

  private addressee(): Block {
    const start = this.i;
    if (!/^:::[ \t]*addressee[ \t]*$/.test(this.lines[start]!)) this.fail(start, `unknown directive "${this.lines[start]!.trim()}" (only "::: addressee")`);
    const lines: string[] = [];
    this.i++;
    while (this.i < this.lines.length && !/^:::[ \t]*$/.test(this.lines[this.i]!)) {
      const at = this.i;
      const runs = this.inline(joinLines([this.lines[at]!]), at);
      if (runs.some((r) => r.type === 'footnote-ref')) this.fail(at, 'no footnote in the addressee block');
      const text = runsText(runs).trim();
      // Empty after merge (no AddressLine3, no postal code): the line goes.
      if (text) lines.push(text);
      this.i++;
    }
    if (this.i >= this.lines.length) this.fail(start, '"::: addressee" is not closed by a line ":::"');
    this.i++;
    return { type: 'addressee', lines };
  }
}

/** Parses a filled template body. Errors are InputErrors naming the file and line. */
export function parseBody(text: string, opts: ParseOptions): ParsedBody {
  return new BodyParser(text, opts).parse();
}
