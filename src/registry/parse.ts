import fs from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { labelled, parseRegistryCsv, type RawRecord } from './csv.ts';
import { decodeUtf8 } from './encoding.ts';
import { normalizeRecipient } from './canonical.ts';
import { recipientSchema, type Recipient } from './schema.ts';

/**
 * Reads a registry file (.csv or .json), validates every record and returns them all,
 * or throws one InputError naming the file, the row and the field of the first problem.
 */
export async function parseRegistryFile(file: string): Promise<Recipient[]> {
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.csv' && ext !== '.json') {
    throw new InputError(`${file}: unknown registry format "${ext || '(no extension)'}" (expected .csv or .json)`);
  }
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(err)})`}`);
  }
  const text = decodeUtf8(file, bytes);
  if (text.trim() === '') throw new InputError(`${file}: is empty`);
  const raw = ext === '.csv' ? parseRegistryCsv(file, text) : parseRegistryJson(file, text);
  return validateRecords(file, raw);
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

function validateRecords(file: string, raw: RawRecord[]): Recipient[] {
  const problems: string[] = [];
  const out: Recipient[] = [];
  const firstSeen = new Map<string, string>();
  for (const rec of raw) {
    for (const p of rec.problems) problems.push(`${rec.where}, field ${p.field}: ${p.message}`);
    const parsed = recipientSchema.safeParse(rec.input);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${rec.where}, field ${rec.fieldName(issue.path)}: ${issue.message}`);
      continue;
    }
    const prev = firstSeen.get(parsed.data.id);
    if (prev !== undefined) {
      problems.push(`${rec.where}, field id: duplicates ${prev}`);
      continue;
    }
    firstSeen.set(parsed.data.id, rec.where.replace(/ \(.*\)$/, ''));
    out.push(normalizeRecipient(parsed.data));
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new InputError(`${file}: ${problems[0]}${more}`);
  }
  return out;
}
