import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chancery, hostileHome, recordHostile, ROOT } from './hostile.fixture.ts';

/**
 * Hostile templates: each is a copy of cu-2009-92.en.md with one bad line added as line 18 of the
 * file. `chancery preview` must exit 1 with one line naming the file and line 18, write no PDF;
 * `chancery template check` must report it and exit 1.
 */

const h = hostileHome();
const templates = path.join(h.home, 'templates');
const env = { ...h.env, CHANCERY_TEMPLATES: templates };
const base = fs.readFileSync(path.join(ROOT, 'templates', 'cu-2009-92.en.md'), 'utf8');
let tried = 0;
let rejected = 0;
afterAll(() => {
  recordHostile('templates', tried, rejected);
  h.cleanup();
});

/** templates/<id>.en.md with `line` inserted as line 18 (the first body line is 17). */
function hostile(id: string, line: string): void {
  const lines = base.replace(/^id: cu-2009-92$/m, `id: ${id}`).split('\n');
  expect(lines[16]).toMatch(/^Reference:/);
  lines.splice(17, 0, line);
  fs.mkdirSync(templates, { recursive: true });
  fs.writeFileSync(path.join(templates, `${id}.en.md`), lines.join('\n'));
}

async function refused(id: string, line: string, message: RegExp): Promise<void> {
  tried++;
  hostile(id, line);
  const out = path.join(h.home, `${id}.pdf`);
  const r = await chancery(env, ['preview', '--template', id, '--recipient', 'GBR', '--lang', 'en', '--out', out]);
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^chancery: .*${id}\\.en\\.md: line 18: `));
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  expect(fs.existsSync(out) || fs.existsSync(`${out}.tmp`)).toBe(false); // nothing rendered
  const check = await chancery(env, ['template', 'check', id]);
  expect(check.code).toBe(1);
  expect(check.stdout).toMatch(new RegExp(`problem: .*line 18: `));
  rejected++;
}

describe('hostile templates: a clear error with the line, nothing rendered', () => {
  it('an unknown placeholder, in either syntax', async () => {
    await refused('t-unknown', 'Dear [[[Ambassador Name]]],', /unknown field "Ambassador Name"/);
    await refused('t-unknown2', 'Dear {{ambassador}},', /unknown field "ambassador"/);
  });

  it('unbalanced [[[ and {{', async () => {
    await refused('t-open', 'Dear [[[CountryName,', /unbalanced "\[\[\[" without "\]\]\]"/);
    await refused('t-close', 'Dear CountryName]]],', /unbalanced "\]\]\]" without "\[\[\["/);
    await refused('t-mustache', 'Dear {{CountryName,', /malformed or unbalanced "\{\{ \}\}"/);
    await refused('t-mustache2', 'Dear CountryName}},', /unbalanced "\}\}" without "\{\{"/);
  });

  it('an unknown helper, or a built-in Handlebars helper we do not offer', async () => {
    await refused('t-helper', '{{shout CountryName}}', /unknown helper "shout"/);
    await refused('t-lookup', '{{lookup recipient "id"}}', /unknown helper "lookup"/);
    await refused('t-with', '{{#with recipient}}{{id}}{{/with}}', /block "\{\{#with\}\}" is not supported/);
  });

  it('constructor, __proto__, prototype in any position', async () => {
    await refused('t-ctor', '{{constructor}}', /"constructor" may not be used/);
    await refused('t-proto', '{{recipient.__proto__}}', /"__proto__" may not be used/);
    await refused('t-ctor2', '{{recipient.constructor.name}}', /"constructor" may not be used/);
    await refused('t-ctor3', '[[[constructor]]]', /"constructor" may not be used/);
    await refused('t-proto2', '{{#if (eq recipient.__proto__ "x")}}x{{/if}}', /"__proto__" may not be used/);
  });

  it('a partial or an include of a path outside templates/', async () => {
    await refused('t-partial', '{{> ../../etc/passwd}}', /partials \("\{\{> \.\.\.\}\}"\) are not supported/);
    await refused('t-partial2', '{{> header}}', /partials/);
    await refused('t-parent', '{{../recipient.id}}', /parent paths/);
    await refused('t-data', '{{@root.recipient}}', /data variables/);
    await refused('t-decorator', '{{* inline "x"}}', /decorators/);
  });

  it('a template id that is a path is refused before any file is read', async () => {
    tried++;
    const r = await chancery(env, ['preview', '--template', '../../etc/passwd', '--recipient', 'GBR', '--out', path.join(h.home, 'x.pdf')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('chancery: template id "../../etc/passwd": must be lower-case letters, digits and dashes');
    rejected++;
  });
});
