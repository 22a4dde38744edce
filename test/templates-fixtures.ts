import { recipientSchema, type Recipient, type RecipientInput } from '../src/registry/schema.ts';
import { parseTemplateText, type Template } from '../src/templates/index.ts';

/** Recipients built for the templates and merge tests (validated with the registry schema). */

const VIENNA_FR = "auprès de l'Organisation des Nations Unies (Vienne)";
const VIENNA_EN = 'to the United Nations (Vienna)';

function state(input: Partial<RecipientInput> & Pick<RecipientInput, 'id' | 'names' | 'titles' | 'addresseeType'>): Recipient {
  return recipientSchema.parse({
    kind: 'state',
    groups: ['member-states'],
    language: 'fr',
    address: { lines: [`Mission permanente (${input.id})`, 'Wagramer Strasse 5', ''], city: 'Vienne', postalCode: '1400', country: { fr: 'Autriche', en: 'Austria' } },
    email: { to: [`mission.${input.id.toLowerCase()}@example.org`] },
    ...input,
  });
}

export const FRA = state({
  id: 'FRA',
  names: {
    fr: { short: 'France', running: 'la France', of: 'de la France' },
    en: { short: 'France', running: 'France', of: 'of France' },
  },
  addresseeType: 'permanent-representative',
  titles: {
    fr: { title: `Représentant permanent de la France ${VIENNA_FR}`, dative: `au Représentant permanent de la France ${VIENNA_FR}`, gender: 'm' },
    en: { title: `Permanent Representative of France ${VIENNA_EN}`, dative: `to the Permanent Representative of France ${VIENNA_EN}`, gender: 'm' },
  },
  address: { lines: ['Mission permanente de la France', 'Schwarzenbergplatz 16', ''], city: 'Vienne', postalCode: '1010', country: { fr: 'Autriche', en: 'Austria' } },
});

export const BRA = state({
  id: 'BRA',
  names: { fr: { short: 'Brésil', running: 'le Brésil', of: 'du Brésil' } },
  addresseeType: 'charge-d-affaires-ai',
  titles: {
    fr: { title: `Chargé d'affaires par intérim du Brésil ${VIENNA_FR}`, dative: `au Chargé d'affaires par intérim du Brésil ${VIENNA_FR}`, gender: 'm' },
  },
});

export const PHL = state({
  id: 'PHL',
  names: { fr: { short: 'Philippines', running: 'les Philippines', of: 'des Philippines' } },
  addresseeType: 'permanent-representative',
  titles: {
    fr: { title: `Représentante permanente des Philippines ${VIENNA_FR}`, dative: `à la Représentante permanente des Philippines ${VIENNA_FR}`, gender: 'f' },
  },
  address: { lines: ['Mission permanente des Philippines', 'Laurenzerberg 2', 'Appartement 4'], city: 'Vienne', postalCode: '', country: { fr: 'Autriche' } },
});

export const DEU = state({
  id: 'DEU',
  names: { fr: { short: 'Allemagne', running: "l'Allemagne", of: "de l'Allemagne" } },
  addresseeType: 'permanent-mission',
  titles: {
    fr: { title: `Mission permanente de l'Allemagne ${VIENNA_FR}`, dative: `à la Mission permanente de l'Allemagne ${VIENNA_FR}`, gender: 'f' },
  },
});

export const HTI = state({
  id: 'HTI',
  names: { fr: { short: 'Haïti', running: 'Haïti', of: "d'Haïti" } },
  addresseeType: 'permanent-representative',
  titles: {
    fr: { title: `Représentant permanent d'Haïti ${VIENNA_FR}`, dative: `au Représentant permanent d'Haïti ${VIENNA_FR}`, gender: 'm' },
  },
});

export const NLD = state({
  id: 'NLD',
  names: { fr: { short: 'Pays-Bas (Royaume des)', running: 'le Royaume des Pays-Bas', of: 'du Royaume des Pays-Bas' } },
  addresseeType: 'permanent-representative',
  titles: {
    fr: { title: `Représentant permanent du Royaume des Pays-Bas ${VIENNA_FR}`, dative: `au Représentant permanent du Royaume des Pays-Bas ${VIENNA_FR}`, gender: 'm' },
  },
});

/** An English-speaking State with no French forms at all. */
export const GBR = state({
  id: 'GBR',
  language: 'en',
  names: { en: { short: 'United Kingdom of Great Britain and Northern Ireland', running: 'the United Kingdom', of: 'of the United Kingdom' } },
  addresseeType: 'permanent-representative',
  titles: {
    en: { title: `Permanent Representative of the United Kingdom ${VIENNA_EN}`, dative: `to the Permanent Representative of the United Kingdom ${VIENNA_EN}`, gender: 'f' },
  },
  address: { lines: ['Permanent Mission of the United Kingdom', 'Jaurèsgasse 12', ''], city: 'Vienna', postalCode: '1030', country: { en: 'Austria' } },
});

/** A Spanish-speaking State: no template version in Spanish. */
export const ESP = state({
  id: 'ESP',
  language: 'es',
  names: { es: { short: 'España', running: 'España', of: 'de España' } },
  addresseeType: 'permanent-representative',
  titles: { es: { title: 'Representante Permanente de España', dative: 'al Representante Permanente de España', gender: 'm' } },
});

export const ALL_FR = [FRA, BRA, PHL, DEU, HTI, NLD];

/** A template from text, for hostile and small cases; the body's first line is `template.bodyLine`. */
export function templateFromText(body: string, meta: Record<string, string> = {}, file = 'templates/test.fr.md'): Template {
  const fm = {
    id: 'test',
    version: '1',
    kind: 'note-verbale',
    language: 'fr',
    reference: 'CU 2009/92 (A)',
    subject: 'Essai',
    letterDate: '2009-07-08',
    replyBy: '2009-07-31',
    typography: 'un-2009',
    ...meta,
  };
  const lines = Object.entries(fm).map(([k, v]) => `${k}: ${v.includes(':') ? JSON.stringify(v) : v}`);
  return parseTemplateText(`---\n${lines.join('\n')}\nsender:\n  title: secretary-general\n  gender: m\n---\n${body}`, file);
}
