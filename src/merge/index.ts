import type { Block, Footnote, MergedDocument, ParagraphBlock, Run, UnDocumentHeader } from '../document/model.ts';
import { InputError } from '../errors.ts';
import type { Recipient } from '../registry/schema.ts';
import { escapeMarkdown } from '../templates/escape.ts';
import { footnoteMark, parseBody, parseInline, runsText } from '../templates/markdown.ts';
import type { Template } from '../templates/meta.ts';
import type { FieldUse } from '../templates/placeholders.ts';
import { buildContext, OPTIONAL_FIELDS, type MergeContext } from './context.ts';
import { formatDate, parseIsoDate } from './dates.ts';
import { compileTemplate, escapeContext } from './engine.ts';
import { applyTypography, applyTypographyText, type TypographyProfile } from './typography.ts';

export { formatDate, isIsoDate, parseIsoDate } from './dates.ts';
export { BUILTIN_FIELDS, buildContext } from './context.ts';
export { applyTypography, applyTypographyText, type TypographyProfile } from './typography.ts';

/** Campaign values that override the front matter (ISO dates). */
export type MergeOptions = {
  reference?: string;
  letterDate?: string;
  replyBy?: string;
  /** For a reminder: the original note, read by {{OriginalReference}} and {{OriginalLetterDate}}. */
  remindOriginal?: { reference: string; letterDate: string };
};

/** One problem found by preflight for one recipient. */
export type Gap = { recipientId: string; language: string; field: string; problem: string };

/** The version in the recipient's correspondence language, else the one named as fallback. */
export function chooseVersion(versions: Template[], recipient: Recipient): Template | undefined {
  const own = versions.find((v) => v.meta.language === recipient.language);
  if (own) return own;
  for (const v of versions) {
    const fallback = v.meta.fallbackLanguage;
    const found = fallback ? versions.find((w) => w.meta.language === fallback) : undefined;
    if (found) return found;
  }
  return undefined;
}

function checkOptions(options: MergeOptions): void {
  // `!= null`: callers reading a database row may hand over null for "not set".
  if (options.letterDate != null) parseIsoDate(options.letterDate, 'letterDate');
  if (options.replyBy != null) parseIsoDate(options.replyBy, 'replyBy');
  if (options.remindOriginal) parseIsoDate(options.remindOriginal.letterDate, 'remindOriginal.letterDate');
  if (options.reference != null && !options.reference.trim()) throw new InputError('reference: is empty');
}

/** Looks a path up in the context through own properties only. */
function resolve(values: Record<string, unknown>, path: string[]): { found: boolean; value: unknown } {
  let cur: unknown = values;
  for (const part of path) {
    if (!cur || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return { found: false, value: undefined };
    cur = (cur as Record<string, unknown>)[part];
  }
  return { found: true, value: cur };
}

type FieldProblem = { use: FieldUse; problem: string; kind: 'unknown' | 'missing' | 'empty' };

/** What is wrong with the fields a template reads, for one context. */
function fieldProblems(uses: FieldUse[], ctx: MergeContext): FieldProblem[] {
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const use of uses) {
    if (seen.has(use.name)) continue;
    const first = use.path[0]!;
    const { found, value } = resolve(ctx.values, use.path);
    let problem: FieldProblem | undefined;
    if (!found && ctx.missing.has(first)) problem = { use, kind: 'missing', problem: `no value: ${ctx.missing.get(first)}` };
    else if (!found) problem = { use, kind: 'unknown', problem: 'unknown field' };
    else if (use.role !== 'test' && !OPTIONAL_FIELDS.has(use.name) && (value === '' || value === undefined || value === null)) {
      problem = { use, kind: 'empty', problem: 'empty value' };
    } else if (use.role === 'output' && value !== null && typeof value === 'object') {
      problem = { use, kind: 'unknown', problem: 'is a group of fields, not a field (name one of its fields)' };
    }
    if (problem) {
      seen.add(use.name);
      out.push(problem);
    }
  }
  return out;
}

function fieldError(template: Template, recipient: Recipient, p: FieldProblem): InputError {
  const where = `${template.file}: line ${p.use.line}`;
  if (p.kind === 'unknown') return new InputError(`${where}: ${p.problem === 'unknown field' ? `unknown field "${p.use.name}"` : `"${p.use.name}" ${p.problem}`}`);
  return new InputError(`${where}: field "${p.use.name}" has ${p.kind === 'empty' ? 'an empty value' : p.problem.replace(/^no value: /, 'no value: ')} for recipient ${recipient.id} (${template.meta.language})`);
}

/** Header marks like "[^*]" in session lines: printed as the mark, counted as a footnote reference. */
function headerLine(line: string, profile: TypographyProfile, refs: string[]): string {
  const withMarks = line.replace(/\[\^([^\]\s]+)\]/g, (all, label: string) => {
    const mark = footnoteMark(label);
    if (!mark) return all;
    refs.push(mark);
    return mark;
  });
  return applyTypographyText(withMarks, profile);
}

function typeset(blocks: Block[], footnotes: Footnote[], profile: TypographyProfile): void {
  const fix = (runs: Run[]) => applyTypography(runs, profile);
  for (const block of blocks) {
    switch (block.type) {
      case 'paragraph':
      case 'heading':
        block.runs = fix(block.runs);
        break;
      case 'list':
        for (const item of block.items) {
          item.runs = fix(item.runs);
          for (const child of item.children?.items ?? []) child.runs = fix(child.runs);
        }
        break;
      case 'table':
        block.header = block.header.map(fix);
        block.rows = block.rows.map((row) => row.map(fix));
        break;
      case 'addressee':
        // Postal lines are printed exactly as the registry holds them.
        break;
    }
  }
  for (const f of footnotes) f.runs = fix(f.runs);
}

/** The Member-State style complimentary close, when a template asks for one (off by default). */
function closingParagraph(template: Template, values: Record<string, unknown>): ParagraphBlock {
  const { language, sender } = template.meta;
  const dative = values.FunctionalTitle2Dative;
  if (typeof dative !== 'string') throw new InputError(`${template.file}: closing: the recipient has no title in ${language}`);
  const f = sender.gender === 'f';
  let text: string;
  if (language === 'fr') {
    const who = sender.title === 'secretariat' ? 'Le Secrétariat' : f ? 'La Secrétaire générale' : 'Le Secrétaire général';
    text = `${who} de l'Organisation des Nations Unies saisit cette occasion pour renouveler ${dative} les assurances de sa très haute considération.`;
  } else if (language === 'en') {
    const who = sender.title === 'secretariat' ? 'The Secretariat of the United Nations avails itself' : `The Secretary-General of the United Nations avails ${f ? 'herself' : 'himself'}`;
    const poss = sender.title === 'secretariat' ? 'its' : f ? 'her' : 'his';
    text = `${who} of this opportunity to renew ${dative} the assurances of ${poss} highest consideration.`;
  } else {
    throw new InputError(`${template.file}: closing: no standard complimentary close in "${language}"; write it in the body and set closing: false`);
  }
  return { type: 'paragraph', runs: parseInline(escapeMarkdown(text), (msg) => { throw new InputError(msg); }) };
}

/**
 * Fills one template version for one recipient: placeholders resolved, Markdown subset parsed,
 * typography applied. Throws an InputError naming the template file, line and field when a
 * field is unknown, missing or empty (never prints an empty string in its place).
 */
export function mergeDocument(template: Template, recipient: Recipient, options: MergeOptions = {}): MergedDocument {
  checkOptions(options);
  const compiled = compileTemplate(template);
  const ctx = buildContext(template.meta, recipient, options);
  const problems = fieldProblems(compiled.analysis.uses, ctx);
  if (problems[0]) throw fieldError(template, recipient, problems[0]);

  const bodyLine = template.bodyLine ?? 1;
  const filled = compiled.run(escapeContext(ctx.values), { language: template.meta.language, file: template.file, bodyLine });
  const { meta } = template;
  const profile = meta.typography;

  let header: UnDocumentHeader | undefined;
  const headerRefs: string[] = [];
  if (meta.kind === 'un-document' && meta.header) {
    const h = meta.header;
    header = {
      body: applyTypographyText(h.body, profile),
      distribution: applyTypographyText(h.distribution, profile),
      date: formatDate(h.date ?? options.letterDate ?? meta.letterDate, meta.language),
      language: applyTypographyText(h.language, profile),
      original: applyTypographyText(h.original, profile),
      ...(h.symbol ? { symbol: h.symbol } : {}),
      ...(h.session.length ? { session: h.session.map((s) => headerLine(s, profile, headerRefs)) } : {}),
    };
  }

  const { blocks, footnotes } = parseBody(filled, { file: template.file, lineOffset: bodyLine - 1, externalRefs: headerRefs });
  const addressees = blocks.filter((b) => b.type === 'addressee');
  if (addressees.length > 1) throw new InputError(`${template.file}: more than one "::: addressee" block`);
  if (meta.kind === 'note-verbale' && addressees.length === 0) throw new InputError(`${template.file}: a note verbale needs a "::: addressee" block`);
  typeset(blocks, footnotes, profile);

  if (meta.closing) {
    // Before the date line, which ends a note verbale.
    const lastParagraph = blocks.map((b) => b.type).lastIndexOf('paragraph');
    const closing = closingParagraph(template, ctx.values);
    closing.runs = applyTypography(closing.runs, profile);
    blocks.splice(lastParagraph >= 0 ? lastParagraph : blocks.length, 0, closing);
  }

  return {
    kind: meta.kind,
    language: meta.language,
    templateId: meta.id,
    templateVersion: meta.version,
    title: meta.kind === 'un-document' && meta.header?.symbol ? meta.header.symbol : (options.reference ?? meta.reference),
    subject: meta.subject,
    ...(header ? { header } : {}),
    blocks,
    footnotes,
  };
}

/**
 * Merges every recipient (without rendering) and returns every gap at once: no version in the
 * recipient's language and no fallback; a field unknown, missing or empty for a recipient;
 * a template that does not parse or merge.
 */
export function preflight(versions: Template[], recipients: Recipient[], options: MergeOptions = {}): Gap[] {
  const gaps: Gap[] = [];
  try {
    checkOptions(options);
  } catch (err) {
    return [{ recipientId: '*', language: '*', field: '(options)', problem: (err as Error).message }];
  }
  const broken = new Map<Template, string>();
  for (const v of versions) {
    try {
      compileTemplate(v);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      broken.set(v, err.message);
      gaps.push({ recipientId: '*', language: v.meta.language, field: '(template)', problem: err.message });
    }
  }
  // A field that is some recipient's custom field is "missing" for the others, not "unknown".
  const customNames = new Set(recipients.flatMap((r) => Object.keys(r.custom)));
  for (const r of recipients) {
    const version = chooseVersion(versions, r);
    if (!version) {
      const langs = versions.map((v) => v.meta.language).join(', ') || 'none';
      gaps.push({ recipientId: r.id, language: r.language, field: '(template)', problem: `no version in ${r.language} (versions: ${langs}) and no fallback language` });
      continue;
    }
    if (broken.has(version)) continue;
    const language = version.meta.language;
    const ctx = buildContext(version.meta, r, options);
    const problems = fieldProblems(compileTemplate(version).analysis.uses, ctx);
    for (const p of problems) {
      const custom = p.kind === 'unknown' && p.use.path.length === 1 && customNames.has(p.use.name);
      gaps.push({
        recipientId: r.id,
        language,
        field: p.use.name,
        problem: `${custom ? 'no value: custom field missing for this recipient' : p.problem} (line ${p.use.line})`,
      });
    }
    if (problems.length === 0) {
      try {
        mergeDocument(version, r, options);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        gaps.push({ recipientId: r.id, language, field: '(document)', problem: err.message });
      }
    }
  }
  return gaps;
}

/** A plain-text table of gaps: recipient, language, field, problem. */
export function formatGaps(gaps: Gap[]): string {
  if (gaps.length === 0) return 'No gaps: every recipient merges.\n';
  const rows = [['recipient', 'language', 'field', 'problem'], ...gaps.map((g) => [g.recipientId, g.language, g.field, g.problem])];
  const widths = [0, 1, 2].map((k) => Math.max(...rows.map((r) => [...r[k]!].length)));
  const line = (r: string[]) => r.map((c, k) => (k < 3 ? c.padEnd(widths[k]!) : c)).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  ') + '  -------', ...rows.slice(1).map(line)].join('\n') + '\n';
}

/** Plain text of a merged document's body, for previews and tests. */
export function documentText(doc: MergedDocument): string {
  const out: string[] = [];
  for (const b of doc.blocks) {
    if (b.type === 'paragraph') out.push((b.number ? `${b.number} ` : '') + runsText(b.runs));
    else if (b.type === 'heading') out.push(runsText(b.runs));
    else if (b.type === 'addressee') out.push(b.lines.join('\n'));
    else if (b.type === 'table') for (const row of [b.header, ...b.rows]) out.push(row.map(runsText).join(' | '));
    else {
      for (const item of b.items) {
        out.push(`${item.label} ${runsText(item.runs)}`);
        for (const child of item.children?.items ?? []) out.push(`  ${child.label} ${runsText(child.runs)}`);
      }
    }
  }
  for (const f of doc.footnotes) out.push(`${f.mark} ${runsText(f.runs)}`);
  return out.join('\n\n');
}
