import { CsvError, parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { InputError } from '../errors.ts';
import { neutraliseFormulaCell, restoreFormulaCell } from '../spreadsheet.ts';
import { languageSchema, type Language, type Recipient } from './schema.ts';

/**
 * The registry as a flat CSV: one row per recipient, one column per field (see seeds/README.md).
 *
 *   id, kind, groups, language, addressee_type,
 *   name_<lang>_short, name_<lang>_running, name_<lang>_of,
 *   title_<lang>, title_<lang>_dative, title_<lang>_gender, title_<lang>_number,   (per language)
 *   address_line1..3, city, postal_code, country_<lang>,
 *   email_to, email_cc, fax, sample_address, custom_<Name>
 *
 * Lists (groups, email_to, email_cc) are separated by ";". An empty cell means "absent".
 */

const LANGUAGES = languageSchema.options;

const NAME_PARTS = ['short', 'running', 'of'] as const;

export const REQUIRED_COLUMNS = ['id', 'kind', 'language', 'addressee_type', 'address_line1', 'city', 'email_to'] as const;

const FIXED_COLUMNS = new Set<string>([
  ...REQUIRED_COLUMNS,
  'groups',
  'address_line2',
  'address_line3',
  'postal_code',
  'email_cc',
  'fax',
  'sample_address',
]);

const CUSTOM_NAME = /^[A-Za-z][A-Za-z0-9 _-]{0,63}$/;

/** Column names of one language, in export order. */
function languageColumns(lang: Language): string[] {
  return [
    ...NAME_PARTS.map((p) => `name_${lang}_${p}`),
    `title_${lang}`,
    `title_${lang}_dative`,
    `title_${lang}_gender`,
    `title_${lang}_number`,
  ];
}

function isKnownColumn(name: string): boolean {
  if (FIXED_COLUMNS.has(name)) return true;
  if (name.startsWith('custom_')) return true; // its name is checked separately
  return LANGUAGES.some((l) => languageColumns(l).includes(name) || name === `country_${l}`);
}

/** One data row turned into the shape recipientSchema expects, ready to validate. */
export type RawRecord = {
  /** "row 4 (FRA)" or "recipients[3] (FRA)": where the record sits in its file. */
  where: string;
  id: string | undefined;
  input: unknown;
  /** Problems found while flattening (a bad boolean, ...), before the schema runs. */
  problems: { field: string; message: string }[];
  /** The column or JSON path a schema issue refers to, as the user knows it. */
  fieldName(path: readonly PropertyKey[]): string;
};

export function parseRegistryCsv(file: string, text: string): RawRecord[] {
  let rows: string[][];
  try {
    rows = parse(text, {
      bom: true,
      relax_column_count: false,
      skip_empty_lines: true,
      relax_quotes: false,
    });
  } catch (err) {
    if (err instanceof CsvError) {
      const e = err as CsvError & { lines?: number; record?: unknown[]; records?: number };
      if (err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH') {
        throw new InputError(
          `${file}: line ${e.lines}: has ${Array.isArray(e.record) ? e.record.length : '?'} fields, the header has ${headerWidth(text)}`,
        );
      }
      throw new InputError(`${file}: line ${e.lines ?? '?'}: ${err.message.replace(/\s+/g, ' ')}`);
    }
    throw err;
  }
  const header = rows[0];
  if (!header || (header.length === 1 && header[0]!.trim() === '')) throw new InputError(`${file}: is empty`);
  const columns = header.map((h) => h.trim());
  checkHeader(file, columns);
  if (rows.length < 2) throw new InputError(`${file}: has a header but no data rows`);

  return rows.slice(1).map((cells, i) => {
    const row: Record<string, string> = {};
    columns.forEach((c, k) => {
      const v = cells[k] ?? '';
      // Export quoted cells a spreadsheet would evaluate: take that quote off again.
      row[c] = restoreFormulaCell(v);
    });
    return rowToRecord(`row ${i + 1}`, row, columns);
  });
}

function headerWidth(text: string): number {
  const first = parse(text, { bom: true, to_line: 1 }) as string[][];
  return first[0]?.length ?? 0;
}

function checkHeader(file: string, columns: string[]): void {
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c)) throw new InputError(`${file}: header: column "${c}" appears twice`);
    seen.add(c);
    if (!isKnownColumn(c)) throw new InputError(`${file}: header: unknown column "${c}"`);
    if (c.startsWith('custom_') && !CUSTOM_NAME.test(c.slice('custom_'.length))) {
      throw new InputError(`${file}: header: column "${c}": a custom field name is a letter then letters, digits, space, _ or -`);
    }
  }
  for (const c of REQUIRED_COLUMNS) {
    if (!seen.has(c)) throw new InputError(`${file}: header: missing required column "${c}"`);
  }
  // A language's names and titles come as a set: half a set is a mistake, not an option.
  for (const l of LANGUAGES) {
    const names = NAME_PARTS.map((p) => `name_${l}_${p}`);
    const titles = [`title_${l}`, `title_${l}_dative`, `title_${l}_gender`];
    for (const set of [names, titles]) {
      const present = set.filter((c) => seen.has(c));
      const missing = set.find((c) => !seen.has(c));
      if (present.length > 0 && missing) throw new InputError(`${file}: header: column "${present[0]}" needs column "${missing}" too`);
    }
    if (seen.has(`title_${l}_number`) && !seen.has(`title_${l}`)) {
      throw new InputError(`${file}: header: column "title_${l}_number" needs column "title_${l}" too`);
    }
  }
}

function splitList(cell: string | undefined): string[] {
  if (cell === undefined || cell.trim() === '') return [];
  return cell.split(';').map((s) => s.trim()).filter((s) => s !== '');
}

function rowToRecord(where: string, row: Record<string, string>, columns: string[]): RawRecord {
  const problems: RawRecord['problems'] = [];
  const cell = (c: string): string => row[c] ?? '';
  const has = (c: string): boolean => columns.includes(c);
  const id = cell('id');

  const names: Record<string, unknown> = {};
  const titles: Record<string, unknown> = {};
  const country: Record<string, unknown> = {};
  for (const l of LANGUAGES) {
    const parts = NAME_PARTS.map((p) => cell(`name_${l}_${p}`));
    // All empty: that language is absent. Partly filled: let the schema name the empty one.
    if (parts.some((v) => v !== '')) names[l] = { short: parts[0], running: parts[1], of: parts[2] };
    const t = [cell(`title_${l}`), cell(`title_${l}_dative`), cell(`title_${l}_gender`), cell(`title_${l}_number`)];
    if (t.some((v) => v !== '')) {
      titles[l] = { title: t[0], dative: t[1], gender: t[2], ...(t[3] !== '' ? { number: t[3] } : {}) };
    }
    if (cell(`country_${l}`) !== '') country[l] = cell(`country_${l}`);
  }

  let sampleAddress = false;
  const sample = cell('sample_address').trim().toLowerCase();
  if (sample === 'true') sampleAddress = true;
  else if (sample !== '' && sample !== 'false') problems.push({ field: 'sample_address', message: 'must be true or false' });

  const custom: Record<string, string> = {};
  for (const c of columns) {
    if (c.startsWith('custom_') && cell(c) !== '') custom[c.slice('custom_'.length)] = cell(c);
  }

  const input = {
    id,
    kind: cell('kind'),
    groups: splitList(cell('groups')),
    language: cell('language'),
    names,
    addresseeType: cell('addressee_type'),
    titles,
    address: {
      // Always three lines (empty ones are suppressed in the letter), matching AddressLine1..3.
      lines: [cell('address_line1'), has('address_line2') ? cell('address_line2') : '', has('address_line3') ? cell('address_line3') : ''],
      city: cell('city'),
      postalCode: cell('postal_code'),
      country,
    },
    email: { to: splitList(cell('email_to')), cc: splitList(cell('email_cc')) },
    ...(cell('fax') !== '' ? { fax: cell('fax') } : {}),
    sampleAddress,
    custom,
  };
  return { where: labelled(where, id), id: id || undefined, input, problems, fieldName: csvColumnForPath };
}

/** "row 4 (FRA)": the id as typed, quoted if odd, so an error message stays on one line. */
export function labelled(where: string, id: string | undefined): string {
  if (!id) return where;
  return `${where} (${/^[A-Za-z0-9:._-]{1,70}$/.test(id) ? id : JSON.stringify(id.slice(0, 70))})`;
}

/** Maps a schema path (["email", "to", 0]) to the CSV column the user edits ("email_to"). */
export function csvColumnForPath(path: readonly PropertyKey[]): string {
  const [a, b, c] = path.map(String);
  switch (a) {
    case 'addresseeType':
      return 'addressee_type';
    case 'sampleAddress':
      return 'sample_address';
    case 'names':
      return `name_${b}_${c ?? 'short'}`;
    case 'titles':
      return c === undefined || c === 'title' ? `title_${b}` : `title_${b}_${c}`;
    case 'address':
      if (b === 'lines') return `address_line${c === undefined ? 1 : Number(c) + 1}`;
      if (b === 'postalCode') return 'postal_code';
      if (b === 'country') return c === undefined ? 'country' : `country_${c}`;
      return b ?? 'address';
    case 'email':
      return `email_${b ?? 'to'}`;
    case 'custom':
      return b === undefined ? 'custom' : `custom_${b}`;
    default:
      return a ?? 'record';
  }
}

/** The columns an export needs: the languages and custom fields in use, nothing more. */
export function exportColumns(recipients: readonly Recipient[]): string[] {
  const langs = LANGUAGES.filter((l) => recipients.some((r) => r.names[l] || r.titles[l] || r.address.country[l]));
  const customs = [...new Set(recipients.flatMap((r) => Object.keys(r.custom)))].sort();
  return [
    'id',
    'kind',
    'groups',
    'language',
    'addressee_type',
    ...langs.flatMap(languageColumns),
    'address_line1',
    'address_line2',
    'address_line3',
    'city',
    'postal_code',
    ...langs.map((l) => `country_${l}`),
    'email_to',
    'email_cc',
    'fax',
    'sample_address',
    ...customs.map((c) => `custom_${c}`),
  ];
}

function recipientToRow(r: Recipient, columns: string[]): string[] {
  const values: Record<string, string> = {
    id: r.id,
    kind: r.kind,
    groups: r.groups.join(';'),
    language: r.language,
    addressee_type: r.addresseeType,
    address_line1: r.address.lines[0] ?? '',
    address_line2: r.address.lines[1] ?? '',
    address_line3: r.address.lines[2] ?? '',
    city: r.address.city,
    postal_code: r.address.postalCode,
    email_to: r.email.to.join(';'),
    email_cc: r.email.cc.join(';'),
    fax: r.fax ?? '',
    sample_address: String(r.sampleAddress),
  };
  for (const l of LANGUAGES) {
    const n = r.names[l];
    const t = r.titles[l];
    if (n) for (const p of NAME_PARTS) values[`name_${l}_${p}`] = n[p];
    if (t) {
      values[`title_${l}`] = t.title;
      values[`title_${l}_dative`] = t.dative;
      values[`title_${l}_gender`] = t.gender;
      values[`title_${l}_number`] = t.number;
    }
    const c = r.address.country[l];
    if (c !== undefined) values[`country_${l}`] = c;
  }
  for (const [k, v] of Object.entries(r.custom)) values[`custom_${k}`] = v;
  return columns.map((c) => {
    return neutraliseFormulaCell(values[c] ?? '');
  });
}

export function recipientsToCsv(recipients: readonly Recipient[]): string {
  const columns = exportColumns(recipients);
  return stringify([columns, ...recipients.map((r) => recipientToRow(r, columns))], { record_delimiter: 'unix' });
}
