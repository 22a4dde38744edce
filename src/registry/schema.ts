import { z } from 'zod';

/**
 * The recipient registry: one record per government or organization.
 * French forms (articles, contractions) are stored as reviewed, never derived at send time.
 */

/** ISO 3166-1 alpha-3 for States ("FRA"), `org:NAME` for organizations ("org:EU"). */
export const recipientIdSchema = z
  .string()
  .regex(/^(?:[A-Z]{3}|org:[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/, 'must be an ISO 3166-1 alpha-3 code (FRA) or org:NAME');

export const languageSchema = z.enum(['en', 'fr', 'es', 'ru', 'zh', 'ar']);
export type Language = z.infer<typeof languageSchema>;

/**
 * Characters that break a line or control a terminal: C0 (CR, LF, tab, ...), DEL, C1
 * (U+0080-U+009F, NEL among them) and the Unicode line and paragraph separators U+2028/U+2029,
 * which mail clients and editors show as line breaks.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** The first such character as "U+0085", or undefined when the text is one clean line. */
export function controlCharacter(text: string): string | undefined {
  const m = CONTROL.exec(text);
  return m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : undefined;
}

const noControl = (s: string, ctx: z.RefinementCtx) => {
  const c = controlCharacter(s);
  if (c) ctx.addIssue({ code: 'custom', message: `contains a control character (${c})` });
};

/** A single line of text that goes into a letter or an e-mail header: no control characters. */
export const lineSchema = z.string().max(500, 'is longer than 500 characters').superRefine(noControl);

const requiredLine = lineSchema.refine((s) => s.trim().length > 0, 'is empty');

/** The name of the State or organization in one language, with the forms a note needs. */
export const nameFormsSchema = z.object({
  /** UN short name: "France", "Pays-Bas (Royaume des)", "Netherlands (Kingdom of the)". */
  short: requiredLine,
  /** In running text, with its article: "la France", "le Brésil", "Haïti", "the Netherlands". */
  running: requiredLine,
  /** The "de"/"of" form: "de la France", "du Brésil", "d'Haïti", "of the Philippines". */
  of: requiredLine,
});
export type NameForms = z.infer<typeof nameFormsSchema>;

export const addresseeTypeSchema = z.enum([
  'permanent-representative',
  'charge-d-affaires-ai',
  'permanent-mission',
  'permanent-observer',
]);
export type AddresseeType = z.infer<typeof addresseeTypeSchema>;

/** The addressee's functional title in one language, with the reviewed dative form. */
export const functionalTitleSchema = z.object({
  /** "Représentant permanent de la France auprès de l'Organisation des Nations Unies (Vienne)" */
  title: requiredLine,
  /**
   * The title after "to"/"à", contraction included, as reviewed:
   * "au Représentant permanent de ...", "à la Représentante permanente de ...",
   * "à la Mission permanente de ...", "to the Permanent Representative of ...".
   */
  dative: requiredLine,
  gender: z.enum(['m', 'f']),
  number: z.enum(['sg', 'pl']).default('sg'),
});
export type FunctionalTitle = z.infer<typeof functionalTitleSchema>;

const emailSchema = z
  .string()
  .max(254)
  .regex(/^[^\s@<>()",;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/, 'is not a valid e-mail address')
  .superRefine(noControl);

export const recipientSchema = z
  .object({
    id: recipientIdSchema,
    kind: z.enum(['state', 'organization']),
    /** Audience groups, e.g. "member-states". */
    groups: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and dashes')).default([]),
    /** Language of correspondence (Protocol "Blue Book"); where two are given, the first. */
    language: languageSchema,
    /** Names per language; at least the correspondence language. */
    names: z.partialRecord(languageSchema, nameFormsSchema),
    addresseeType: addresseeTypeSchema,
    /** Functional title per language; at least the correspondence language. */
    titles: z.partialRecord(languageSchema, functionalTitleSchema),
    address: z.object({
      /** Up to three lines; empty lines are suppressed in the letter. */
      lines: z.array(lineSchema).min(1).max(3),
      city: requiredLine,
      postalCode: lineSchema.default(''),
      /** Country of the postal address per language (often Austria, not the State represented). */
      country: z.partialRecord(languageSchema, requiredLine),
    }),
    email: z.object({
      to: z.array(emailSchema).min(1, 'needs at least one address'),
      cc: z.array(emailSchema).default([]),
    }),
    fax: lineSchema.optional(),
    /** True where the address is a sample for the demo, not a verified Protocol address. */
    sampleAddress: z.boolean().default(false),
    /** Free fields usable as placeholders: [[[Name]]] or {{custom.Name}}. */
    custom: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9 _-]{0,63}$/), lineSchema).default({}),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!r.names[r.language]) ctx.addIssue({ code: 'custom', path: ['names', r.language], message: `is missing (the correspondence language)` });
    if (!r.titles[r.language]) ctx.addIssue({ code: 'custom', path: ['titles', r.language], message: `is missing (the correspondence language)` });
    if (r.kind === 'state' && r.id.startsWith('org:')) ctx.addIssue({ code: 'custom', path: ['id'], message: 'a State needs an ISO 3166-1 alpha-3 id' });
    if (r.kind === 'organization' && !r.id.startsWith('org:')) ctx.addIssue({ code: 'custom', path: ['id'], message: 'an organization needs an org:NAME id' });
  });

export type Recipient = z.infer<typeof recipientSchema>;
export type RecipientInput = z.input<typeof recipientSchema>;
