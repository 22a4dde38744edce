import fs from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { labelled, parseRegistryCsv, type RawRecord } from './csv.ts';
import { decodeUtf8 } from './encoding.ts';
import { normalizeRecipient } from './canonical.ts';
import { recipientSchema, type Recipient } from './schema.ts';

export type RegistryFormat = 'csv' | 'json';

/** The format a registry file's name says: .csv or .json. */
export function registryFormatOf(file: string): RegistryFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.csv' && ext !== '.json') {
    throw new InputError(`${file}: unknown registry format "${ext || '(no extension)'}" (expected .csv or .json)`);
  }
  return ext === '.csv' ? 'csv' : 'json';
}

/**
 * The one reading of a registry file's bytes, for `registry import` and the web console alike:
 * UTF-8 only, every record validated. Returns the recipients and every problem, each naming
 * the file (`label`), the row and the field; a caller imports nothing unless there is none.
 */
export function readRegistry(label: string, bytes: Uint8Array, format: RegistryFormat): { recipients: Recipient[]; problems: string[] } {
  try {
    const text = decodeUtf8(label, bytes);
    if (text.trim() === '') throw new InputError(`${label}: is empty`);
    const raw = format === 'csv' ? parseRegistryCsv(label, text) : parseRegistryJson(label, text);
    return validateRecords(label, raw);
  } catch (err) {
    if (err instanceof InputError) return { recipients: [], problems: [err.message] };
    throw err;
  }
}

/**
 * Reads a registry file (.csv or .json), validates every record and returns them all,
 * or throws one InputError naming the file, the row and the field of the first problem.
 */
export async function parseRegistryFile(file: string): Promise<Recipient[]> {
  const format = registryFormatOf(file);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(err)})`}`);
  }
  const { recipients, problems } = readRegistry(file, bytes, format);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new InputError(`${problems[0]}${more}`);
  }
  return recipients;
}

function parseRegistryJson(file: string, text: string): RawRecord[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(data)) throw new InputError(`${file}: must hold a JSON array of recipients`);
  if (data.length === 0) throw new InputError(`${file}: contains no recipients`);
  return data.map((input, i) => {
    const id = typeof input === 'object' && input !== null && typeof (input as { id?: unknown }).id === 'string' ? (input as { id: string }).id : undefined;
    return {
      where: labelled(`recipients[${i}]`, id),
      id,
      input,
      problems: [],
      fieldName: jsonPath,
    };
  });
}

/** ["email", "to", 0] -> "email.to[0]" */
function jsonPath(p: readonly PropertyKey[]): string {
  return p.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '') || 'record';
}

function validateRecords(file: string, raw: RawRecord[]): { recipients: Recipient[]; problems: string[] } {
  const problems: string[] = [];
  const recipients: Recipient[] = [];
  const firstSeen = new Map<string, string>();
  for (const rec of raw) {
    for (const p of rec.problems) problems.push(`${file}: ${rec.where}, field ${p.field}: ${p.message}`);
    const parsed = recipientSchema.safeParse(rec.input);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${file}: ${rec.where}, field ${rec.fieldName(issue.path)}: ${issue.message}`);
      continue;
    }
    const prev = firstSeen.get(parsed.data.id);
    if (prev !== undefined) {
      problems.push(`${file}: ${rec.where}, field id: duplicates ${prev}`);
      continue;
    }
    firstSeen.set(parsed.data.id, rec.where.replace(/ \(.*\)$/, ''));
    recipients.push(normalizeRecipient(parsed.data));
  }
  return { recipients, problems };
}
