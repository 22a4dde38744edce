import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, isNode } from 'yaml';
import { InputError } from '../errors.ts';
import { languageSchema } from '../registry/schema.ts';
import { templateMetaSchema, type Template, type TemplateMeta } from './meta.ts';

/** A template file is templates/<id>.<lang>.md: YAML front matter between "---" lines, then the body. */

const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const FILE_NAME = /^([a-z0-9][a-z0-9-]{0,63})\.([a-z]{2})\.md$/;

/** Path as shown in messages: relative to the working folder when inside it ("templates/x.fr.md"). */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

/** Parses the text of a template file. `file` names it in errors. */
export function parseTemplateText(raw: string, file: string): Template {
  const text = raw.replace(/\r\n?/g, '\n');
  const lines = text.split('\n');
  if (lines[0] !== '---') throw new InputError(`${file}: line 1: a template starts with a "---" line opening its front matter`);
  const end = lines.indexOf('---', 1);
  if (end < 0) throw new InputError(`${file}: front matter is not closed by a "---" line`);
  const yamlText = lines.slice(1, end).join('\n');
  const doc = parseDocument(yamlText, { uniqueKeys: true, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = 1 + lineOf(yamlText, yamlError.pos[0]);
    throw new InputError(`${file}: line ${line}: front matter: ${yamlError.message.split('\n')[0]}`);
  }
  const parsed = templateMetaSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.map(String);
    // Name the line of the offending key when the YAML has it.
    let node: unknown = key.length ? doc.getIn(key, true) : undefined;
    for (let k = key.length - 1; !isNode(node) && k > 0; k--) node = doc.getIn(key.slice(0, k), true);
    const at = isNode(node) && node.range ? `line ${1 + lineOf(yamlText, node.range[0])}: ` : '';
    throw new InputError(`${file}: ${at}front matter: ${key.join('.') || 'document'}: ${issue.message}`);
  }
  const body = lines.slice(end + 1).join('\n');
  return { meta: parsed.data, body, file, sha256: createHash('sha256').update(raw).digest('hex'), bodyLine: end + 2, source: raw };
}

/**
 * Parsed templates by file and exact text (bench helper): a worker reads the file for every job, so
 * an edit is seen at once, but parses it (and merge, whose compiled form is kept per Template
 * object, compiles it) only when the text changed. Templates are never mutated after parsing.
 */
const parsedCache = new Map<string, Template>();

function parseCached(raw: string, shown: string): Template {
  const key = `${shown}\u0000${raw}`;
  const hit = parsedCache.get(key);
  if (hit) return hit;
  const t = parseTemplateText(raw, shown);
  if (parsedCache.size >= 64) parsedCache.clear();
  parsedCache.set(key, t);
  return t;
}

/**
 * Reads and validates templates/<id>.<lang>.md; the file name must match id and language.
 * Messages name the file relative to the templates folder `dir` ("cu-2009-92.fr.md"), never
 * its place on the server.
 */
export async function readTemplateFile(dir: string, fileName: string): Promise<Template> {
  const file = path.join(dir, fileName);
  const shown = path.relative(dir, file);
  const name = FILE_NAME.exec(path.basename(file));
  if (!name) throw new InputError(`${shown}: a template file is named <id>.<lang>.md (e.g. cu-2009-92.fr.md)`);
  let raw: string;
  try {
    // Read in place: a render worker reads the template for every letter (an edit is seen at
    // once), and a few KB through libuv's thread pool cost more CPU than the read itself.
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`${shown}: cannot read template (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const t = parseCached(raw, shown);
  if (t.meta.id !== name[1]) throw new InputError(`${shown}: front matter: id "${t.meta.id}" does not match the file name (${name[1]})`);
  if (t.meta.language !== name[2]) throw new InputError(`${shown}: front matter: language "${t.meta.language}" does not match the file name (${name[2]})`);
  return t;
}

function checkId(id: string): void {
  if (!ID.test(id)) throw new InputError(`template id "${id}": must be lower-case letters, digits and dashes`);
}

/** One language version of a template. InputError when absent. */
export async function loadTemplate(dir: string, id: string, language: string): Promise<Template> {
  checkId(id);
  if (!languageSchema.safeParse(language).success) throw new InputError(`template ${id}: language "${language}" is not one of ${languageSchema.options.join(', ')}`);
  const file = path.join(dir, `${id}.${language}.md`);
  const names = await templateFileNames(dir);
  if (!names.includes(path.basename(file))) {
    const others = names.filter((n) => n.startsWith(`${id}.`)).map((n) => n.split('.')[1]);
    throw new InputError(`template "${id}" has no version in ${language} (${path.basename(file)} not found${others.length ? `; versions: ${others.join(', ')}` : ''})`);
  }
  return readTemplateFile(dir, path.basename(file));
}

async function templateFileNames(dir: string): Promise<string[]> {
  try {
    return readdirSync(dir).filter((n) => FILE_NAME.test(n)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new InputError(`cannot read the templates folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** Every language version of one template id (sorted by language). InputError when there is none. */
export async function loadTemplateVersions(dir: string, id: string): Promise<Template[]> {
  checkId(id);
  const names = (await templateFileNames(dir)).filter((n) => FILE_NAME.exec(n)?.[1] === id);
  if (names.length === 0) throw new InputError(`no template "${id}" in the templates folder`);
  return Promise.all(names.map((n) => readTemplateFile(dir, n)));
}

/** A template file that does not load: its name, id and language, and why (its line and error). */
export type BrokenTemplate = { file: string; id: string; language: string; problem: string };

/**
 * Every template file in the folder (sorted by id, then language): the front matter of those
 * that load, and those that do not, so that one broken file hides none of the others.
 */
export async function scanTemplates(dir: string): Promise<{ templates: TemplateMeta[]; broken: BrokenTemplate[] }> {
  const templates: TemplateMeta[] = [];
  const broken: BrokenTemplate[] = [];
  for (const name of await templateFileNames(dir)) {
    try {
      templates.push((await readTemplateFile(dir, name)).meta);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      const [, id = '', language = ''] = FILE_NAME.exec(name) ?? [];
      broken.push({ file: name, id, language, problem: err.message });
    }
  }
  return { templates, broken };
}

/** The front matter of every template file in the folder (sorted by id, then language); InputError for the first that does not load. */
export async function listTemplates(dir: string): Promise<TemplateMeta[]> {
  const { templates, broken } = await scanTemplates(dir);
  if (broken[0]) throw new InputError(broken[0].problem);
  return templates;
}
