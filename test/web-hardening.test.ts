import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRecipients, getRecipient } from '../src/registry/index.ts';
import type { WebRuntime } from '../src/web/context.ts';
import { buildServer, parseTrustProxy, type WebApp } from '../src/web/server.ts';
import { cli, type DispatchEnv } from './dispatch.fixture.ts';
import { startWebConsole, type WebConsole } from './helpers/web.ts';

/**
 * The web console against what a security review found (issue 21, points 1-5), through
 * fastify.inject on the real server (real SQLite store, real Redis): the registry upload's
 * encoding check, --trust-proxy, a broken template, control characters in `next`, headers.
 */

const ROOT = path.resolve(import.meta.dirname, '..');

let web: WebConsole | undefined;
let t: DispatchEnv;
let rt: WebRuntime;
let app: WebApp;
/** A copy of the shipped templates plus one whose front matter is not YAML. */
let templates: string;
let scratch: string;

const PASSWORDS = { vera: 'viewer-password-1', dora: 'drafter-password-1', ada: 'admin-password-1' } as const;
type Name = keyof typeof PASSWORDS;
type Res = Awaited<ReturnType<WebApp['inject']>>;

const BROKEN_TEMPLATE = ['---', 'id: broken', 'version: 1', 'kind: note-verbale: x', 'language: en', '---', 'Body.', ''].join('\n');
const BROKEN_PROBLEM = 'broken.en.md: line 4: front matter: Nested mappings are not allowed in compact mappings';

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-hardening-'));
  templates = path.join(scratch, 'templates');
  fs.cpSync(path.join(ROOT, 'templates'), templates, { recursive: true });
  fs.writeFileSync(path.join(templates, 'broken.en.md'), BROKEN_TEMPLATE);
  const roles = { vera: 'viewer', dora: 'drafter', ada: 'admin' } as const;
  web = await startWebConsole(Object.entries(roles).map(([name, role]) => ({ name, role, password: PASSWORDS[name as Name] })), { templates });
  ({ t, rt, app } = web);
});
afterAll(async () => {
  await web?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** A browser: its cookies, and what it sends with every request (address, headers). */
class Browser {
  cookies = new Map<string, string>();
  constructor(
    readonly server: WebApp,
    readonly extra: { remoteAddress?: string; headers?: Record<string, string> } = {},
  ) {}
  async request(method: 'GET' | 'POST' | 'PUT', url: string, opts: { headers?: Record<string, string>; payload?: unknown } = {}): Promise<Res> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await this.server.inject({
      method,
      url,
      ...(this.extra.remoteAddress ? { remoteAddress: this.extra.remoteAddress } : {}),
      headers: { ...this.extra.headers, ...(cookie ? { cookie } : {}), ...opts.headers },
      ...(opts.payload === undefined ? {} : { payload: opts.payload as string }),
    });
    for (const c of res.cookies as { name: string; value: string; maxAge?: number }[]) {
      if (c.value === '' || c.maxAge === 0) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return res;
  }
  /** The sign-in form posted with its CSRF token. */
  async signIn(name: string, password: string, more: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Res> {
    const page = await this.request('GET', '/login');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    expect(token, page.body).toBeDefined();
    return this.request('POST', '/login', { headers, payload: { _csrf: token, name, password, ...more } });
  }
  /** Signed in: the CSRF token of the API. */
  async csrf(): Promise<string> {
    const s = await this.request('GET', '/api/session');
    expect(s.statusCode, s.body).toBe(200);
    return s.json<{ csrfToken: string }>().csrfToken;
  }
}

async function signedIn(name: Name, server: WebApp = app): Promise<Browser> {
  const b = new Browser(server);
  const res = await b.signIn(name, PASSWORDS[name]);
  expect(res.statusCode, res.body).toBe(303);
  return b;
}

/** A multipart/form-data body as a browser sends the import form. */
function multipart(fields: Record<string, string>, file: { name: string; content: Buffer }): { body: Buffer; type: string } {
  const boundary = `----chancery${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: text/csv\r\n\r\n`), file.content, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

describe('registry upload (point 1)', () => {
  it('refuses a Latin-1 CSV as `registry import` does, with the same message, and writes nothing', async () => {
    const fra = (await getRecipient(rt.db, 'FRA'))!;
    const text = exportRecipients([fra], 'csv');
    expect(text).toMatch(/[éè]/); // accented letters that Latin-1 writes as one byte each
    const latin1 = Buffer.from(text, 'latin1');
    const file = path.join(scratch, 'latin1.csv');
    fs.writeFileSync(file, latin1);

    const byCli = await cli(t.env, ['registry', 'import', file]);
    expect(byCli.code).toBe(1);
    const cliMessage = byCli.stderr.trim().replace(/^chancery: /, '').replace(file, 'latin1.csv');
    expect(cliMessage).toMatch(/^latin1\.csv: line 2: is not valid UTF-8 \(byte 0x[0-9A-F]{2} at offset \d+\); save it as UTF-8$/);

    const ada = await signedIn('ada');
    const csrf = await ada.csrf();
    for (const mode of ['dry-run', 'import']) {
      const form = multipart({ _csrf: csrf, mode }, { name: 'latin1.csv', content: latin1 });
      const res = await ada.request('POST', '/registry/import', { headers: { 'content-type': form.type }, payload: form.body });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.body).toContain(`<li>${cliMessage}</li>`);
    }
    expect(await getRecipient(rt.db, 'FRA')).toEqual(fra);
    const imports = await rt.db.selectFrom('events').select('type').where('type', '=', 'registry.imported').execute();
    expect(imports).toEqual([]);

    // The same file in UTF-8 goes through the same path and is imported.
    const form = multipart({ _csrf: csrf, mode: 'import' }, { name: 'utf8.csv', content: Buffer.from(text, 'utf8') });
    const ok = await ada.request('POST', '/registry/import', { headers: { 'content-type': form.type }, payload: form.body });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.body).toContain('1 recipients valid');
    expect(await getRecipient(rt.db, 'FRA')).toEqual(fra);
  });
});

/** The addresses recorded by the failed sign-ins of `name`, oldest first. */
async function failedSignInAddresses(name: string): Promise<string[]> {
  const rows = await rt.db.selectFrom('events').select('data').where('type', '=', 'user.sign-in-failed').orderBy('id').execute();
  return rows.map((r) => JSON.parse(r.data) as { name: string; ip: string }).filter((d) => d.name === name).map((d) => d.ip);
}

describe('--trust-proxy (point 2)', () => {
  const attempts = async (server: WebApp, remoteAddress: string, forwarded: (i: number) => string, name: string) => {
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const b = new Browser(server, { remoteAddress, headers: { 'x-forwarded-for': forwarded(i) } });
      statuses.push((await b.signIn(name, 'wrong-password')).statusCode);
    }
    return statuses;
  };

  it('believes X-Forwarded-For only from the proxies named: forged values neither escape the rate limit nor reach the audit', async () => {
    const server = await buildServer({ runtime: rt, secret: randomBytes(32), loginRateLimit: { max: 10, timeWindowMs: 60_000 }, trustProxy: parseTrustProxy('10.0.0.1, 10.8.0.0/16') });
    try {
      // A client that is not one of the proxies, each attempt with its own forged address.
      const direct = await attempts(server, '198.51.100.7', (i) => `203.0.113.${i + 1}`, 'mallory');
      expect(direct.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(direct.slice(10)).toEqual(Array(5).fill(429));
      expect(await failedSignInAddresses('mallory')).toEqual(Array(10).fill('198.51.100.7'));

      // Through a named proxy, the client is the address the proxy appended.
      const viaProxy = new Browser(server, { remoteAddress: '10.8.3.4', headers: { 'x-forwarded-for': '192.0.2.99, 192.0.2.10' } });
      expect((await viaProxy.signIn('trudy', 'wrong-password')).statusCode).toBe(401);
      expect(await failedSignInAddresses('trudy')).toEqual(['192.0.2.10']);
    } finally {
      await server.close();
    }
  });

  it('with a number of hops takes the address the last proxy saw, whatever the client put before it', async () => {
    const server = await buildServer({ runtime: rt, secret: randomBytes(32), loginRateLimit: { max: 10, timeWindowMs: 60_000 }, trustProxy: parseTrustProxy('1') });
    try {
      const statuses = await attempts(server, '10.0.0.1', (i) => `203.0.113.${i + 1}, 192.0.2.55`, 'oscar');
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(statuses.slice(10)).toEqual(Array(5).fill(429));
      expect(await failedSignInAddresses('oscar')).toEqual(Array(10).fill('192.0.2.55'));
    } finally {
      await server.close();
    }
  });

  it('refuses a value that is neither addresses nor hops (exit 2, before anything starts)', async () => {
    for (const [value, message] of [
      ['10.0.0.300', '"10.0.0.300" is not an IP address'],
      ['10.0.0.0/33', '"10.0.0.0/33" is not an IP address'],
      ['0', '0 hops'],
    ]) {
      const r = await cli(t.env, ['serve', '--port', '0', '--trust-proxy', value!]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`chancery: --trust-proxy: ${message}`);
    }
    expect(parseTrustProxy('loopback,::1,fd00::/8')).toEqual({ addresses: ['loopback', '::1', 'fd00::/8'] });
  });
});

describe('a template file with a YAML error (point 3)', () => {
  it('is listed as broken with its line and error; every other page and the CLI keep working; no server path shown', async () => {
    const dora = await signedIn('dora');
    const campaigns = await dora.request('GET', '/campaigns');
    expect(campaigns.statusCode, campaigns.body).toBe(200);
    expect(campaigns.body).toContain('<option value="cu-2009-92">cu-2009-92 (en, fr)</option>');
    expect(campaigns.body).not.toContain('value="broken"');

    const page = await dora.request('GET', '/templates');
    expect(page.statusCode, page.body).toBe(200);
    expect(page.body).toContain('href="/templates/cu-2009-92"');
    expect(page.body).toContain(`<tr class="broken"><td>broken</td><td>en</td><td colspan="4"><strong>broken:</strong> ${BROKEN_PROBLEM}</td></tr>`);

    const api = await dora.request('GET', '/api/templates');
    expect(api.statusCode, api.body).toBe(200);
    const groups = api.json<{ id: string; versions: { language: string }[]; broken: { language: string; file: string; problem: string }[] }[]>();
    expect(groups.find((g) => g.id === 'cu-2009-92')).toMatchObject({ versions: [{ language: 'en' }, { language: 'fr' }], broken: [] });
    const broken = groups.find((g) => g.id === 'broken')!;
    expect(broken.versions).toEqual([]);
    expect(broken.broken).toEqual([{ language: 'en', file: 'broken.en.md', problem: BROKEN_PROBLEM }]);

    // The broken template's own page says what is wrong; the others open and check as before.
    const own = await dora.request('GET', '/templates/broken');
    expect(own.statusCode).toBe(400);
    expect(own.body).toContain(BROKEN_PROBLEM);
    const check = await dora.request('GET', '/api/templates/cu-2009-92/check');
    expect(check.statusCode, check.body).toBe(200);
    expect(check.json<{ file: string }[]>().map((c) => c.file)).toEqual(['cu-2009-92.en.md', 'cu-2009-92.fr.md']);
    const missing = await dora.request('GET', '/api/templates/no-such/check');
    expect(missing.json()).toEqual({ error: 'bad-request', message: 'no template "no-such" in the templates folder' });

    const list = await cli(t.env, ['template', 'list']);
    expect(list.code).toBe(1);
    expect(list.stdout).toMatch(/^cu-2009-92 +fr +1 +note-verbale/m);
    expect(list.stdout).toContain(`\nbroken: ${BROKEN_PROBLEM}\n`);
    const json = await cli(t.env, ['template', 'list', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).map((m: { id: string; language: string }) => `${m.id}.${m.language}`)).toContain('cu-2009-92.fr');
    expect(json.stderr).toBe(`broken: ${BROKEN_PROBLEM}\n`);

    for (const text of [campaigns.body, page.body, api.body, own.body, check.body, missing.body, list.stdout, list.stderr, json.stdout, json.stderr]) {
      expect(text).not.toContain(templates);
      expect(text).not.toContain(os.tmpdir());
    }
  });
});

describe('control characters in next (point 4)', () => {
  it('percent-encodes them: sign-in and the signed-in login page redirect, never a 500', async () => {
    const b = new Browser(app);
    const before = await rt.db.selectFrom('events').select('id').where('type', '=', 'user.signed-in').execute();
    const res = await b.signIn('vera', PASSWORDS.vera, { next: '/\x7f' });
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe('/%7F');
    const after = await rt.db.selectFrom('events').select('id').where('type', '=', 'user.signed-in').execute();
    expect(after.length).toBe(before.length + 1);

    for (const [next, to] of [
      ['/%00x', '/%00x'],
      ['/%09/evil.example', '/%09/evil.example'], // a tab a browser would strip to make "//"
      ['/r%C3%A9gistre%20x', '/r%C3%A9gistre%20x'],
      ['//evil.example', '/campaigns'],
      ['/%5Cevil.example', '/campaigns'],
      ['https://evil.example/', '/campaigns'],
      ['/registry?q=C%25C3%25B4te', '/registry?q=C%C3%B4te'],
    ]) {
      const r = await b.request('GET', `/login?next=${next}`);
      expect(r.statusCode, `${next}: ${r.body}`).toBe(303);
      expect(r.headers.location, next).toBe(to);
    }
  });
});

describe('responses and headers (point 5)', () => {
  it('JSON API answers and audit downloads are not stored by caches; 403 bodies name the error', async () => {
    const dora = await signedIn('dora');
    const csrf = await dora.csrf();
    const created = await dora.request('POST', '/api/campaigns', { headers: { 'x-csrf-token': csrf }, payload: { template: 'cu-2009-92', reference: 'next:CU', audience: 'FRA', replyBy: '2009-07-31' } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    for (const url of ['/api/session', '/api/campaigns', `/api/campaigns/${id}`, `/api/campaigns/${id}/audit`, `/campaigns/${id}/audit?format=csv`, '/api/nothing-here']) {
      const r = await dora.request('GET', url);
      expect(r.headers['cache-control'], url).toBe('no-store');
    }
    expect((await dora.request('GET', `/campaigns/${id}/audit?format=csv`)).body).toContain('campaign.created');

    const vera = await signedIn('vera');
    const refused = await vera.request('POST', `/api/campaigns/${id}/approve`, { headers: { 'x-csrf-token': await vera.csrf() }, payload: {} });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({ error: 'forbidden', message: 'your role (viewer) may not approve campaigns' });
    const noToken = await vera.request('POST', `/api/campaigns/${id}/approve`, { payload: {} });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.json<{ error: string }>().error).toBe('forbidden');
    const anonymous = await app.inject({ method: 'GET', url: '/api/campaigns' });
    expect(anonymous.json<{ error: string }>().error).toBe('unauthorized');
  });

  it('sends HSTS when the request came over HTTPS, as a trusted proxy says; not over HTTP nor when anyone says it', async () => {
    const server = await buildServer({ runtime: rt, secret: randomBytes(32), trustProxy: parseTrustProxy('10.0.0.1') });
    try {
      const proxied = await server.inject({ method: 'GET', url: '/login', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-proto': 'https' } });
      expect(proxied.headers['strict-transport-security']).toBe('max-age=31536000');
      const forged = await server.inject({ method: 'GET', url: '/login', remoteAddress: '198.51.100.7', headers: { 'x-forwarded-proto': 'https' } });
      expect(forged.headers['strict-transport-security']).toBeUndefined();
      const plain = await app.inject({ method: 'GET', url: '/login', headers: { 'x-forwarded-proto': 'https' } });
      expect(plain.headers['strict-transport-security']).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it("holds the queue dashboard's writes to the same scheme as well as the same host", async () => {
    const ada = await signedIn('ada');
    const host = 'chancery.example';
    const pause = (origin: string) => ada.request('PUT', '/admin/queues/api/queues/send/pause', { headers: { host, origin } });
    const crossScheme = await pause(`https://${host}`);
    expect(crossScheme.statusCode).toBe(403);
    expect(crossScheme.body).toBe('cross-origin request refused');
    expect(await rt.queues.send.isPaused()).toBe(false);
    expect((await pause(`http://${host}:8080`)).statusCode).toBe(403);
    const same = await pause(`http://${host}`);
    expect(same.statusCode, same.body).toBe(200);
    expect(await rt.queues.send.isPaused()).toBe(true);
    await rt.queues.send.resume();
  });
});
