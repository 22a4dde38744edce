import { z } from 'zod';
import { isIsoDate } from '../merge/dates.ts';
import { languageSchema } from '../registry/schema.ts';

/** The YAML front matter of a template file, validated. See templates/README.md. */

const isoDate = z.string().refine(isIsoDate, 'is not a valid date (expected yyyy-mm-dd, e.g. 2009-07-31)');
const text = z.string().trim().min(1, 'is empty');

/** Header block of a UN document (seeds 000, 001, 002). */
export const unHeaderSchema = z
  .object({
    /** "Conférence des Parties à la Convention des Nations Unies contre la criminalité transnationale organisée" */
    body: text,
    /** "Distr. générale" */
    distribution: text,
    /** Date of the document (ISO); defaults to letterDate. Printed per language. */
    date: isoDate.optional(),
    /** Language label: "Français" */
    language: text,
    /** "Original: anglais" */
    original: text,
    /** "CTOC/COP/2014/6" */
    symbol: text.optional(),
    /** Lines under the header: session, place and dates, agenda item. "[^*]" marks a footnote. */
    session: z.array(text).default([]),
  })
  .strict();

export const templateMetaSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be lower-case letters, digits and dashes'),
    version: z.number().int().min(1),
    kind: z.enum(['note-verbale', 'un-document']),
    language: languageSchema,
    /** "CU 2009/92 (A)"; a campaign may override it. */
    reference: text,
    /** For the record and the e-mail subject; not printed in a note verbale. */
    subject: text,
    letterDate: isoDate,
    replyBy: isoDate.optional(),
    sender: z
      .object({
        /** "secretary-general" (addressed to a person) or "secretariat" (to an office). */
        title: z.enum(['secretary-general', 'secretariat']),
        gender: z.enum(['m', 'f']).default('m'),
      })
      .strict(),
    typography: z.enum(['un-2009', 'fr', 'en']),
    /** Version used for recipients whose language has none. */
    fallbackLanguage: languageSchema.optional(),
    /** Member-State style complimentary close; notes of the Secretary-General have none. */
    closing: z.boolean().default(false),
    header: unHeaderSchema.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.kind === 'un-document' && !m.header) ctx.addIssue({ code: 'custom', path: ['header'], message: 'is required for a un-document' });
    if (m.kind === 'note-verbale' && m.header) ctx.addIssue({ code: 'custom', path: ['header'], message: 'is only for a un-document' });
    if (m.fallbackLanguage === m.language) ctx.addIssue({ code: 'custom', path: ['fallbackLanguage'], message: 'is the language of this version' });
    if (m.replyBy && m.replyBy < m.letterDate) ctx.addIssue({ code: 'custom', path: ['replyBy'], message: 'is before letterDate' });
  });

export type TemplateMeta = z.infer<typeof templateMetaSchema>;
export type UnHeaderMeta = z.infer<typeof unHeaderSchema>;

/**
 * A loaded template file. `body` is the text after the front matter; `bodyLine` is the file line
 * (1-based) where the body starts, so errors name lines of the file (1 when absent).
 */
export type Template = {
  meta: TemplateMeta;
  body: string;
  file: string;
  sha256: string;
  bodyLine?: number;
  /** The file's exact text (its SHA-256 is `sha256`), kept so an approval can store it. */
  source?: string;
};
