/**
 * The merged document: plain data passed from merge (src/merge) to render (src/render).
 * Every placeholder is already resolved and typography applied; render only lays it out.
 */

/** A run of text with one style. `\n` never appears inside: hard breaks are separate `break` runs. */
export interface TextRun {
  type: 'text';
  text: string;
  bold?: boolean;
  italic?: boolean;
  /** Target of a link (URL or mailto:); the text is shown as is. */
  link?: string;
}

/** A hard line break inside a paragraph (two trailing spaces in the Markdown subset). */
export interface BreakRun {
  type: 'break';
}

/** A footnote reference inside running text, e.g. `*` or `¹`. */
export interface FootnoteRefRun {
  type: 'footnote-ref';
  mark: string;
}

export type Run = TextRun | BreakRun | FootnoteRefRun;

export interface ParagraphBlock {
  type: 'paragraph';
  runs: Run[];
  /** Numbered paragraph label ("1.", "2."), set apart with a hanging indent. */
  number?: string;
  align?: 'justify' | 'left' | 'center' | 'right';
}

export interface HeadingBlock {
  type: 'heading';
  level: 1 | 2 | 3;
  runs: Run[];
}

export type ListStyle = 'bullet' | 'alpha' | 'roman' | 'decimal';

export interface ListItem {
  /** The label as printed: "a)", "iv)", "1.", "•". */
  label: string;
  runs: Run[];
  /** Nested list under this item (one level is enough for the seeds). */
  children?: ListBlock;
}

export interface ListBlock {
  type: 'list';
  style: ListStyle;
  items: ListItem[];
}

export interface TableBlock {
  type: 'table';
  /** Header cells; empty when the table has no header row. */
  header: Run[][];
  rows: Run[][][];
  /** Relative column widths (sum need not be 1); omitted means equal. */
  widths?: number[];
}

/**
 * The addressee block of a note verbale: placed flush left at the foot of the first page,
 * whatever its position in the body. Empty lines are already removed by merge.
 */
export interface AddresseeBlock {
  type: 'addressee';
  lines: string[];
}

export type Block = ParagraphBlock | HeadingBlock | ListBlock | TableBlock | AddresseeBlock;

export interface Footnote {
  mark: string;
  runs: Run[];
}

/** Header block of a UN document (seeds 000, 001, 002). */
export interface UnDocumentHeader {
  /** e.g. "Conférence des Parties à la Convention ..." */
  body: string;
  distribution: string; // "Distr. générale"
  date: string; // already formatted: "12 juin 2014"
  language: string; // "Français"
  original: string; // "Original: anglais"
  symbol?: string; // "CTOC/COP/2014/6"
  /** Lines under the header: session, place and dates, agenda item. */
  session?: string[];
}

export interface MergedDocument {
  kind: 'note-verbale' | 'un-document';
  language: string;
  /** Template id and version, for the record. */
  templateId: string;
  templateVersion: number;
  /** Title used in the PDF metadata (e.g. "CU 2009/92 (A)"). */
  title: string;
  /** Subject line for metadata and e-mail; not printed in a note verbale. */
  subject: string;
  header?: UnDocumentHeader;
  blocks: Block[];
  footnotes: Footnote[];
}

/** What render gives back: the PDF bytes and what the record needs of them. */
export interface RenderedDocument {
  bytes: Buffer;
  pages: number;
  sha256: string;
}
