import type { Recipient } from '../registry/schema.ts';
import type { TemplateMeta } from '../templates/meta.ts';
import { formatDate } from './dates.ts';

/**
 * The merge context: what a template's placeholders may read, for one recipient in one
 * language (the language of the template version). Field list (also in src/merge/README.md):
 *
 *   FunctionalTitle2         titles[L].title      "Représentant permanent de la France auprès de ..."
 *   FunctionalTitle2Dative   titles[L].dative     "au Représentant permanent ...", "à la Mission permanente ...",
 *                                                 "to the Permanent Representative ..."
 *   AddressLine1..3          address.lines[0..2]  ('' when absent; empty addressee lines are dropped)
 *   City, Postal Code        address.city, address.postalCode ('' allowed)
 *   CountryAddressName       address.country[L]   postal country in L (often Austria)
 *   CountryName              names[L].short       "Pays-Bas (Royaume des)"
 *   CountryRunning           names[L].running     "le Royaume des Pays-Bas"
 *   CountryOf                names[L].of          "du Royaume des Pays-Bas"
 *   Reference, Subject       campaign or front matter
 *   LetterDate, ReplyBy      formatted in L ("8 juillet 2009"); ReplyBy only when a reply-by date is set
 *   OriginalReference, OriginalLetterDate   only when merging a reminder (options.remindOriginal)
 *   reference, subject, letterDate, replyBy   raw values (ISO dates) for helpers: {{date replyBy}}
 *   <custom field name>      recipient.custom[name] (unless it collides with a name above)
 *   custom.<name>            recipient.custom[name]
 *   recipient.{id, kind, language, addresseeType, gender, number}
 *   campaign.{reference, subject, letterDate, replyBy}
 *   sender.{title, gender}   from the front matter
 *   original.{reference, letterDate}   in a reminder
 */

export type MergeContextOptions = {
  reference?: string;
  letterDate?: string;
  replyBy?: string;
  remindOriginal?: { reference: string; letterDate: string };
};

export type MergeContext = {
  /** Raw values (not escaped); merge escapes them for the Markdown subset. */
  values: Record<string, unknown>;
  /** Fields the template language knows but this recipient has no value for, with the reason. */
  missing: Map<string, string>;
};

/** Fields that may be empty in print (the addressee block drops empty lines). */
export const OPTIONAL_FIELDS = new Set(['AddressLine1', 'AddressLine2', 'AddressLine3', 'Postal Code']);

/** Top-level field names every recipient has (custom fields come on top). */
export const BUILTIN_FIELDS = [
  'FunctionalTitle2',
  'FunctionalTitle2Dative',
  'AddressLine1',
  'AddressLine2',
  'AddressLine3',
  'City',
  'Postal Code',
  'CountryAddressName',
  'CountryName',
  'CountryRunning',
  'CountryOf',
  'Reference',
  'Subject',
  'LetterDate',
  'ReplyBy',
  'OriginalReference',
  'OriginalLetterDate',
  'reference',
  'subject',
  'letterDate',
  'replyBy',
  'recipient',
  'campaign',
  'sender',
  'custom',
  'original',
] as const;

export function buildContext(meta: TemplateMeta, recipient: Recipient, options: MergeContextOptions = {}): MergeContext {
  const L = meta.language;
  const missing = new Map<string, string>();
  const values: Record<string, unknown> = {};
  const title = recipient.titles[L];
  const name = recipient.names[L];
  const country = recipient.address.country[L];

  // Custom fields first, so a built-in name always wins at the top level.
  for (const [k, v] of Object.entries(recipient.custom)) values[k] = v;

  if (title) {
    values.FunctionalTitle2 = title.title;
    values.FunctionalTitle2Dative = title.dative;
  } else {
    missing.set('FunctionalTitle2', `titles.${L} is missing`);
    missing.set('FunctionalTitle2Dative', `titles.${L} is missing`);
  }
  const lines = recipient.address.lines;
  values.AddressLine1 = lines[0] ?? '';
  values.AddressLine2 = lines[1] ?? '';
  values.AddressLine3 = lines[2] ?? '';
  values.City = recipient.address.city;
  values['Postal Code'] = recipient.address.postalCode;
  if (country) values.CountryAddressName = country;
  else missing.set('CountryAddressName', `address.country.${L} is missing`);
  if (name) {
    values.CountryName = name.short;
    values.CountryRunning = name.running;
    values.CountryOf = name.of;
  } else {
    for (const f of ['CountryName', 'CountryRunning', 'CountryOf']) missing.set(f, `names.${L} is missing`);
  }

  const reference = options.reference ?? meta.reference;
  const letterDate = options.letterDate ?? meta.letterDate;
  const replyBy = options.replyBy ?? meta.replyBy;
  values.Reference = reference;
  values.Subject = meta.subject;
  values.LetterDate = formatDate(letterDate, L);
  values.reference = reference;
  values.subject = meta.subject;
  values.letterDate = letterDate;
  if (replyBy) {
    values.ReplyBy = formatDate(replyBy, L);
    values.replyBy = replyBy;
  } else {
    const why = 'no reply-by date (front matter replyBy or the campaign reply-by)';
    missing.set('ReplyBy', why);
    missing.set('replyBy', why);
  }
  if (options.remindOriginal) {
    values.OriginalReference = options.remindOriginal.reference;
    values.OriginalLetterDate = formatDate(options.remindOriginal.letterDate, L);
    values.original = { reference: options.remindOriginal.reference, letterDate: options.remindOriginal.letterDate };
  } else {
    for (const f of ['OriginalReference', 'OriginalLetterDate', 'original']) missing.set(f, 'only in a reminder (the original note)');
  }
  values.campaign = { reference, subject: meta.subject, letterDate, ...(replyBy ? { replyBy } : {}) };
  values.recipient = {
    id: recipient.id,
    kind: recipient.kind,
    language: recipient.language,
    addresseeType: recipient.addresseeType,
    gender: title?.gender ?? '',
    number: title?.number ?? 'sg',
  };
  values.sender = { title: meta.sender.title, gender: meta.sender.gender };
  values.custom = { ...recipient.custom };
  return { values, missing };
}
