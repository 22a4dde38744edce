import path from 'node:path';
import { stringify } from 'yaml';
import { InputError } from '../errors.ts';
import { monthNames, parseWrittenDate } from '../merge/dates.ts';
import { languageSchema } from '../registry/schema.ts';
import { checkTemplate } from './check.ts';
import { parseTemplateText } from './load.ts';

/**
 * Turns an archived note verbale, in the archive's Markdown export (seed 004), into the text of
 * a template file templates/<id>.<lang>.md:
 *   [\[\[\[Name\]\]\]](#)              -> [[[Name]]]
 *   au [[[FunctionalTitle2]]]           -> [[[FunctionalTitle2Dative]]] (also à la, à l', aux; en "to the")
 *   "Référence: CU 2009/92 (A)"         -> "Référence: {{Reference}}" (front matter reference)
 *   "d'ici au 31 juillet 2009"          -> "d'ici au {{ReplyBy}}"     (front matter replyBy)
 *   final "Le 8 juillet 2009"           -> "Le {{LetterDate}}"        (front matter letterDate)
 *   lines holding only address placeholders -> a "::: addressee" block at the end of the body
 *     (the layout puts it at the foot of page 1, wherever it stood in the export)
 * Everything else (bold, lists, links, hard breaks) is kept as written.
 */

export type ImportOptions = {
  id: string;
  language: string;
  /** The archived file, named in errors and in the front matter comment. */
  file: string;
  /** Subject for the front matter; derived from the text when absent. */
  subject?: string;
};

const ADDRESS_FIELDS = ['AddressLine1', 'AddressLine2', 'AddressLine3', 'City', 'Postal Code', 'CountryAddressName'];
const STANDARD_ADDRESSEE = ['[[[AddressLine1]]]', '[[[AddressLine2]]]', '[[[AddressLine3]]]', '[[[City]]] [[[Postal Code]]]', '[[[CountryAddressName]]]'];

const LABELS: Record<string, { reference: RegExp; dateLine: RegExp; dateLineOut: string; replyBy: RegExp; replyByOut: string; dative: RegExp }> = {
  fr: {
    reference: /^(Référence|Réf\.)(\s*:\s*)(.+?)\s*$/u,
    dateLine: /^(?:Le\s+)?((?:1er|\d{1,2})\s+\p{L}+\s+\d{4})\s*\.?\s*$/u,
    dateLineOut: 'Le {{LetterDate}}',
    replyBy: /(d['’]ici au|avant le|au plus tard le)\s+((?:1er|\d{1,2})\s+(\p{L}+)\s+\d{4})/u,
    replyByOut: '$1 {{ReplyBy}}',
    dative: /(?:\bau |\baux |\bà la |\bà l['’]|\bà )\[\[\[FunctionalTitle2\]\]\]/gu,
  },
  en: {
    reference: /^(Reference|Ref\.)(\s*:\s*)(.+?)\s*$/u,
    dateLine: /^((?:\d{1,2})\s+\p{L}+\s+\d{4})\s*\.?\s*$/u,
    dateLineOut: '{{LetterDate}}',
    replyBy: /(\bby|\bno later than|\bbefore)\s+(\d{1,2}\s+(\p{L}+)\s+\d{4})/u,
    replyByOut: '$1 {{ReplyBy}}',
    dative: /\bto (?:the )?\[\[\[FunctionalTitle2\]\]\]/gu,
  },
};

/** A subject from the text: the first bold passage, else the first sentence after the salutation. */
function deriveSubject(body: string[]): string {
  const text = body.join('\n');
  const bold = /\*\*([^*]+)\*\*/.exec(text)?.[1];
  const paragraphs = text.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim()).filter((p) => p && !p.includes('{{') && !p.includes('[[['));
  const source = (bold ?? paragraphs[0] ?? 'Note verbale').replace(/\s+/g, ' ').replace(/\\(.)/g, '$1').trim();
  const sentence = source.split(/(?<=[.;:])\s/)[0]!.replace(/[.;:]$/, '');
  if ([...sentence].length <= 120) return sentence;
  return `${sentence.slice(0, 120).replace(/\s+\S*$/, '')}…`;
}

export function importArchivedNote(text: string, opts: ImportOptions): string {
  const { id, language, file } = opts;
  const source = path.basename(file);
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(id)) throw new InputError(`--id "${id}": must be lower-case letters, digits and dashes`);
  if (!languageSchema.safeParse(language).success) throw new InputError(`--lang "${language}": not one of ${languageSchema.options.join(', ')}`);
  const labels = LABELS[language];
  if (!labels) throw new InputError(`--lang ${language}: the archive import reads French and English notes only`);

  // Literal braces in the archive must not become placeholders.
  const normalized = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').replace(/\{\{/g, '\\{{').replace(/\}\}/g, '\\}}');
  let lines = normalized
    .split('\n')
    .map((line) =>
      line
        // The archive's escaped link form, and bare escaped brackets.
        .replace(/\[\\\[\\\[\\\[([^\]\\]+?)\\\]\\\]\\\]\]\(#\)/g, '[[[$1]]]')
        .replace(/\\\[\\\[\\\[([^\]\\]+?)\\\]\\\]\\\]/g, '[[[$1]]]')
        .replace(labels.dative, '[[[FunctionalTitle2Dative]]]'),
    );

  // Reference line (the first non-empty line that is one).
  const refIndex = lines.findIndex((l) => labels.reference.test(l));
  if (refIndex < 0) throw new InputError(`${file}: no reference line ("${language === 'fr' ? 'Référence' : 'Reference'}: CU 2009/92 (A)")`);
  const refMatch = labels.reference.exec(lines[refIndex]!)!;
  const reference = refMatch[3]!;
  lines[refIndex] = `${refMatch[1]}${refMatch[2]}{{Reference}}`;

  // Date line: the last non-empty line.
  let last = lines.length - 1;
  while (last >= 0 && !lines[last]!.trim()) last--;
  const dateMatch = last >= 0 ? labels.dateLine.exec(lines[last]!.trim()) : null;
  const letterDate = dateMatch ? parseWrittenDate(dateMatch[1]!, language) : undefined;
  if (!letterDate) {
    throw new InputError(`${file}: line ${last + 1}: the note does not end with its date (e.g. "${language === 'fr' ? 'Le 8 juillet 2009' : '8 July 2009'}")`);
  }
  lines[last] = labels.dateLineOut;

  // Reply-by date: the first deadline idiom with a date in this language.
  let replyBy: string | undefined;
  const months = monthNames(language).map((m) => m.toLowerCase());
  for (let k = 0; k < lines.length && !replyBy; k++) {
    const m = labels.replyBy.exec(lines[k]!);
    if (m && months.includes(m[3]!.toLowerCase())) {
      replyBy = parseWrittenDate(m[2]!, language);
      if (replyBy) lines[k] = lines[k]!.replace(labels.replyBy, labels.replyByOut);
    }
  }

  // Address lines: consecutive lines made only of address placeholders.
  const placeholderOnly = (l: string) => {
    const names = [...l.matchAll(/\[\[\[([^\]]+)\]\]\]/g)].map((m) => m[1]!);
    return names.length > 0 && names.every((n) => ADDRESS_FIELDS.includes(n)) && /^[\s,]*$/.test(l.replace(/\[\[\[[^\]]+\]\]\]/g, ''));
  };
  let addressee = STANDARD_ADDRESSEE;
  const start = lines.findIndex(placeholderOnly);
  if (start >= 0) {
    let end = start;
    while (end + 1 < lines.length && placeholderOnly(lines[end + 1]!)) end++;
    addressee = lines.slice(start, end + 1).map((l) => l.trim());
    lines.splice(start, end - start + 1);
  }

  // Tidy: no leading blank lines, at most one blank line in a row, the addressee block at the end.
  const body: string[] = [];
  for (const line of lines) {
    const blank = !line.trim();
    if (blank && (body.length === 0 || !body[body.length - 1]!.trim())) continue;
    body.push(blank ? '' : line);
  }
  while (body.length && !body[body.length - 1]!.trim()) body.pop();
  body.push('', '::: addressee', ...addressee, ':::');

  const female = language === 'fr' ? /\bLa Secrétaire générale\b/.test(normalized) : /\bpresents her compliments\b/.test(normalized);
  const meta = {
    id,
    version: 1,
    kind: 'note-verbale',
    language,
    reference,
    subject: opts.subject?.trim() || deriveSubject(body),
    letterDate,
    ...(replyBy ? { replyBy } : {}),
    sender: { title: 'secretary-general', gender: female ? 'f' : 'm' },
    // The archive is written in the UN style of its day: keep it as written.
    typography: language === 'en' ? 'en' : 'un-2009',
    closing: false,
  };
  const out = `---\n# Imported from ${source} by "chancery template import"; review subject and wording.\n${stringify(meta, { lineWidth: 0 })}---\n${body.join('\n')}\n`;

  // The result must load and merge like any template.
  const shown = `${id}.${language}.md`;
  const check = checkTemplate(parseTemplateText(out, shown));
  if (check.problems.length) throw new InputError(`${file}: the imported template does not check: ${check.problems[0]}`);
  return out;
}
