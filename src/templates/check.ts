import { InputError } from '../errors.ts';
import { BUILTIN_FIELDS } from '../merge/context.ts';
import { mergeDocument } from '../merge/index.ts';
import { recipientSchema, type Recipient } from '../registry/schema.ts';
import type { Template } from './meta.ts';
import { analyzeBody, placeholderNames } from './placeholders.ts';

/** What `chancery template check` reports for one language version. */
export type TemplateCheck = { language: string; file: string; placeholders: string[]; problems: string[] };

/** A recipient with every field filled in `language`, for a trial merge. */
function sampleRecipient(language: Recipient['language'], custom: string[]): Recipient {
  return recipientSchema.parse({
    id: 'XXX',
    kind: 'state',
    language,
    names: { [language]: { short: 'Sample', running: 'Sample', of: 'of Sample' } },
    addresseeType: 'permanent-representative',
    titles: { [language]: { title: 'Sample Title', dative: 'to the Sample Title', gender: 'm' } },
    address: { lines: ['Line 1', 'Line 2', 'Line 3'], city: 'Vienna', postalCode: '1400', country: { [language]: 'Austria' } },
    email: { to: ['sample@example.org'] },
    custom: Object.fromEntries(custom.map((name) => [name, 'Sample'])),
  });
}

/**
 * Checks one version: placeholders parse, every field is a merge-context field (or one of
 * `customFields`, the registry's custom field names), and a trial merge with a complete sample
 * recipient parses (Markdown subset, footnotes, addressee block, helpers).
 */
export function checkTemplate(template: Template, customFields: readonly string[] = []): TemplateCheck {
  const result: TemplateCheck = { language: template.meta.language, file: template.file, placeholders: [], problems: [] };
  let analysis;
  try {
    analysis = analyzeBody(template);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    result.problems.push(err.message);
    return result;
  }
  result.placeholders = placeholderNames(analysis);
  const builtin = new Set<string>(BUILTIN_FIELDS);
  const custom = new Set(customFields);
  const reported = new Set<string>();
  for (const use of analysis.uses) {
    const first = use.path[0]!;
    if (builtin.has(first) || custom.has(first) || reported.has(use.name)) continue;
    if (first === 'custom' || reported.has(use.name)) continue;
    reported.add(use.name);
    result.problems.push(`${template.file}: line ${use.line}: unknown field "${use.name}"`);
  }
  // Trial merge: fields that only a reminder or a campaign provides get sample values.
  const sampleCustom = result.placeholders.filter((n) => !builtin.has(n.split('.')[0]!)).map((n) => n.replace(/^custom\./, ''));
  const usable = sampleCustom.filter((n) => /^[A-Za-z][A-Za-z0-9 _-]{0,63}$/.test(n));
  try {
    mergeDocument(template, sampleRecipient(template.meta.language, usable), {
      replyBy: template.meta.replyBy ?? template.meta.letterDate,
      remindOriginal: { reference: template.meta.reference, letterDate: template.meta.letterDate },
    });
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    if (!result.problems.includes(err.message)) result.problems.push(err.message);
  }
  return result;
}
