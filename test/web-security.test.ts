import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCampaign } from '../src/campaigns/repo.ts';
import type { WebRuntime } from '../src/web/context.ts';
import { buildServer, type WebApp } from '../src/web/server.ts';
import { setUserRole } from '../src/web/users.ts';
import { startWebConsole, type WebConsole } from './helpers/web.ts';

/**
 * The web console's guards, through fastify.inject on the real server (real SQLite store, real
 * Redis for the queues): anonymous requests, roles, CSRF, escaping, rate limit, cookies.
 */

let web: WebConsole | undefined;
let rt: WebRuntime;
let app: WebApp;

const PASSWORDS = { vera: 'viewer-password-1', dora: 'drafter-password-1', alan: 'approver-password-1', ada: 'admin-password-1' } as const;
type Name = keyof typeof PASSWORDS;

beforeAll(async () => {
  const roles = { vera: 'viewer', dora: 'drafter', alan: 'approver', ada: 'admin' } as const;
  web = await startWebConsole(Object.entries(roles).map(([name, role]) => ({ name, role, password: PASSWORDS[name as Name] })));
  ({ rt, app } = web);
});
afterAll(async () => web?.stop());

/** A browser's cookie jar, for inject. */
class Jar {
  cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  take(res: { cookies: { name: string; value: string; maxAge?: number }[] }): void {
    for (const c of res.cookies) {
      if (c.value === '' || c.maxAge === 0) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
  }
}

const tokenIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];

type Session = { jar: Jar; csrf: string; get(url: string): Promise<Awaited<ReturnType<WebApp['inject']>>>; post(url: string, form: Record<string, string>, opts?: { csrf?: string | null }): Promise<Awaited<ReturnType<WebApp['inject']>>>; api(method: 'GET' | 'POST', url: string, body?: unknown, opts?: { csrf?: string | null }): Promise<Awaited<ReturnType<WebApp['inject']>>> };

async function signIn(name: Name, server: WebApp = app): Promise<Session> {
  const jar = new Jar();
  const page = await server.inject({ method: 'GET', url: '/login' });
  jar.take(page);
  const loginToken = tokenIn(page.body)!;
  const res = await server.inject({ method: 'POST', url: '/login', headers: { cookie: jar.header() }, payload: { _csrf: loginToken, name, password: PASSWORDS[name] } });
  expect(res.statusCode, res.body).toBe(303);
  jar.take(res);
  const s = await server.inject({ method: 'GET', url: '/api/session', headers: { cookie: jar.header() } });
  expect(s.statusCode).toBe(200);
  const csrf = s.json<{ csrfToken: string }>().csrfToken;
  const session: Session = {
    jar,
    csrf,
    get: async (url) => {
      const r = await server.inject({ method: 'GET', url, headers: { cookie: jar.header() } });
      jar.take(r);
      return r;
    },
    post: async (url, form, opts = {}) => {
      const token = opts.csrf === undefined ? csrf : opts.csrf;
      const r = await server.inject({ method: 'POST', url, headers: { cookie: jar.header() }, payload: { ...form, ...(token === null ? {} : { _csrf: token }) } });
      jar.take(r);
      return r;
    },
    api: async (method, url, body, opts = {}) => {
      const token = opts.csrf === undefined ? csrf : opts.csrf;
      const headers: Record<string, string> = { cookie: jar.header(), ...(token === null ? {} : { 'x-csrf-token': token }) };
      const r = await server.inject({ method, url, headers, ...(body === undefined ? {} : { payload: body as object }) });
      jar.take(r);
      return r;
    },
  };
  return session;
}

async function createCampaign(s: Session, audience = 'FRA,DEU'): Promise<string> {
  const r = await s.api('POST', '/api/campaigns', { template: 'cu-2009-92', reference: 'next:CU', audience, replyBy: '2009-07-31' });
  expect(r.statusCode, r.body).toBe(201);
  return r.json<{ id: string }>().id;
}

/** A URL for a route pattern: parameters filled with plausible values. */
function concrete(url: string): string {
  return url
    .replace(':id', 'c0000000000')
    .replace(':rid', 'FRA')
    .replace(':tid', 'cu-2009-92')
    .replace(':name', 'dora')
    .replace(':sha', '0'.repeat(64))
    .replace(/:[A-Za-z]+/g, 'x')
    .replace('*', 'x');
}

describe('web console security', () => {
  it('refuses every page and API route to an anonymous request (only the sign-in page, assets and health checks are public)', async () => {
    const routes = app.routeList.filter((r) => r.method !== 'OPTIONS');
    expect(routes.length).toBeGreaterThan(40);
    const pub = [...new Set(routes.filter((r) => r.public).map((r) => `${r.method} ${r.url}`))].sort();
    expect(pub).toEqual(['GET /assets/app.js', 'GET /assets/style.css', 'GET /healthz', 'GET /login', 'GET /readyz', 'HEAD /assets/app.js', 'HEAD /assets/style.css', 'HEAD /healthz', 'HEAD /login', 'HEAD /readyz', 'POST /login']);
    for (const r of routes.filter((x) => !x.public)) {
      const url = concrete(r.url);
      const res = await app.inject({ method: r.method as 'GET', url, ...(r.method === 'POST' || r.method === 'PUT' ? { payload: {} } : {}) });
      const where = `${r.method} ${url}`;
      if (r.method === 'GET' && !url.startsWith('/api')) {
        expect(res.statusCode, where).toBe(303);
        expect(res.headers.location, where).toMatch(/^\/login\?next=/);
      } else if (r.method === 'HEAD' && !url.startsWith('/api')) {
        expect([303, 401], where).toContain(res.statusCode);
      } else {
        expect(res.statusCode, where).toBe(401);
      }
      expect(res.body, where).not.toMatch(/CU 2009|France|Campaigns<\/h1>/);
    }
    // A made-up path too: no hint of what exists.
    expect((await app.inject({ method: 'GET', url: '/api/nothing-here' })).statusCode).toBe(401);
    // A wrong password opens nothing.
    const page = await app.inject({ method: 'GET', url: '/login' });
    const jar = new Jar();
    jar.take(page);
    const bad = await app.inject({ method: 'POST', url: '/login', headers: { cookie: jar.header() }, payload: { _csrf: tokenIn(page.body)!, name: 'dora', password: 'not-her-password' } });
    expect(bad.statusCode).toBe(401);
    expect(bad.cookies.find((c) => c.name === 'chancery_session')).toBeUndefined();
  });

  it('keeps passwords hashed with scrypt and sets HTTP-only, SameSite=Strict session cookies', async () => {
    const rows = await rt.db.selectFrom('users').select(['name', 'password_hash']).execute();
    for (const r of rows) {
      expect(r.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
      expect(r.password_hash).not.toContain(PASSWORDS[r.name as Name]);
    }
    const page = await app.inject({ method: 'GET', url: '/login' });
    const jar = new Jar();
    jar.take(page);
    const res = await app.inject({ method: 'POST', url: '/login', headers: { cookie: jar.header() }, payload: { _csrf: tokenIn(page.body)!, name: 'vera', password: PASSWORDS.vera } });
    const cookie = [res.headers['set-cookie']].flat().find((c) => String(c).startsWith('chancery_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/); // plain HTTP here; see the HTTPS case below
    const events = await rt.db.selectFrom('events').select(['type', 'actor']).where('type', 'like', 'user.%').execute();
    expect(events).toContainEqual({ type: 'user.signed-in', actor: 'vera' });
    expect(events).toContainEqual({ type: 'user.sign-in-failed', actor: 'web' });
  });

  it('refuses a form or an API call without its CSRF token, or with the token of another session', async () => {
    const dora = await signIn('dora');
    const before = await rt.db.selectFrom('campaigns').select('id').execute();
    const form = { template: 'cu-2009-92', reference: 'next:CU', audience: 'FRA', replyBy: '2009-07-31' };
    const none = await dora.post('/campaigns', form, { csrf: null });
    expect(none.statusCode).toBe(403);
    expect(none.body).toMatch(/csrf/i);
    const forged = await dora.post('/campaigns', form, { csrf: 'forged-token' });
    expect(forged.statusCode).toBe(403);
    const vera = await signIn('vera');
    const other = await dora.post('/campaigns', form, { csrf: vera.csrf });
    expect(other.statusCode).toBe(403);
    const api = await dora.api('POST', '/api/campaigns', form, { csrf: null });
    expect(api.statusCode).toBe(403);
    expect(await rt.db.selectFrom('campaigns').select('id').execute()).toEqual(before);
    // The same form with its token goes through.
    const ok = await dora.post('/campaigns', form);
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toMatch(/^\/campaigns\/c[0-9a-z]+$/);
    // Sign-out is a form too.
    expect((await dora.post('/logout', {}, { csrf: null })).statusCode).toBe(403);
  });

  it('lets a drafter create but not approve, a viewer read but not send, an approver approve and send', async () => {
    const dora = await signIn('dora');
    const vera = await signIn('vera');
    const alan = await signIn('alan');
    const id = await createCampaign(dora);
    expect((await getCampaign(rt.db, id)).created_by).toBe('dora');

    // The drafter sees no Approve button, and the request itself is refused.
    const page = await dora.get(`/campaigns/${id}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('id="do-approve"');
    const approveForm = await dora.post(`/campaigns/${id}/approve`, {});
    expect(approveForm.statusCode).toBe(403);
    expect(approveForm.body).toContain('your role (drafter) may not approve campaigns');
    expect((await dora.api('POST', `/api/campaigns/${id}/approve`, {})).statusCode).toBe(403);
    expect((await getCampaign(rt.db, id)).state).toBe('draft');

    // The viewer reads, but cannot create, approve or send.
    expect((await vera.get(`/campaigns/${id}`)).statusCode).toBe(200);
    expect((await vera.api('POST', '/api/campaigns', { template: 'cu-2009-92', reference: 'next:CU', audience: 'FRA', replyBy: '2009-07-31' })).statusCode).toBe(403);
    expect((await vera.post(`/campaigns/${id}/approve`, {})).statusCode).toBe(403);

    const approved = await alan.api('POST', `/api/campaigns/${id}/approve`, {});
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({ state: 'approved', approved_by: 'alan' });

    const viewerPage = await vera.get(`/campaigns/${id}`);
    expect(viewerPage.body).not.toContain('id="do-send"');
    const send = await vera.post(`/campaigns/${id}/send`, {});
    expect(send.statusCode).toBe(403);
    expect(send.body).toContain('your role (viewer) may not send campaigns');
    expect((await vera.api('POST', `/api/campaigns/${id}/send`, {})).statusCode).toBe(403);
    expect((await dora.api('POST', `/api/campaigns/${id}/send`, {})).statusCode).toBe(403);
    expect((await getCampaign(rt.db, id)).state).toBe('approved');
    expect(await rt.db.selectFrom('dispatches').select('id').where('campaign_id', '=', id).execute()).toHaveLength(0);

    // The approver sends (this server only enqueues: no worker runs in this test).
    const sent = await alan.post(`/campaigns/${id}/send`, {});
    expect(sent.statusCode).toBe(303);
    expect((await getCampaign(rt.db, id)).state).toBe('sending');
    expect(await rt.db.selectFrom('dispatches').select('id').where('campaign_id', '=', id).execute()).toHaveLength(2);

    // Who did what is in the audit trail under their own names.
    const events = await rt.db.selectFrom('events').select(['type', 'actor']).where('campaign_id', '=', id).execute();
    expect(events).toContainEqual({ type: 'campaign.created', actor: 'dora' });
    expect(events).toContainEqual({ type: 'campaign.approved', actor: 'alan' });
    expect(events).toContainEqual({ type: 'campaign.send-started', actor: 'alan' });
  });

  it('never lets the drafter of a campaign approve it, even after becoming an approver', async () => {
    const dora = await signIn('dora');
    const id = await createCampaign(dora, 'FRA');
    await setUserRole(rt.db, 'dora', 'approver', 'test');
    try {
      expect((await dora.get('/campaigns')).statusCode).toBe(303); // her sessions ended with the role change
      const again = await signIn('dora');
      const r = await again.post(`/campaigns/${id}/approve`, {});
      expect(r.statusCode).toBe(303);
      const after = await again.get(`/campaigns/${id}`);
      expect(after.body).toContain('the approver must be someone other than its creator (dora)');
      expect((await getCampaign(rt.db, id)).state).toBe('draft');
    } finally {
      await setUserRole(rt.db, 'dora', 'drafter', 'test');
    }
  });

  it('shows a registry value containing <script> as text, and lists every problem of a bad edit', async () => {
    const ada = await signIn('ada');
    const fields = (await ada.get('/api/registry/FRA/fields')).json<Record<string, string>>();
    const evil = '<script>alert("pwned")</script> Rue & Co';
    const saved = await ada.post('/registry/FRA', { ...fields, address_line1: evil });
    expect(saved.statusCode, saved.body).toBe(303);
    expect((await ada.get('/api/registry/FRA')).json<{ address: { lines: string[] } }>().address.lines[0]).toBe(evil);

    const vera = await signIn('vera');
    const view = await vera.get('/registry/FRA');
    expect(view.statusCode).toBe(200);
    expect(view.body).toContain('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; Rue &amp; Co');
    expect(view.body).not.toContain('<script>alert');
    // Searching for it finds France, and the query itself comes back as text.
    const search = await vera.get(`/registry?q=${encodeURIComponent('<script>alert(')}`);
    expect(search.body).toContain('href="/registry/FRA"');
    expect(search.body).toContain('value="&lt;script&gt;alert("');
    expect(search.body).not.toContain('<script>alert');
    expect((await vera.get('/registry/FRA/edit')).statusCode).toBe(403);
    expect((await vera.post('/registry/FRA', { ...fields })).statusCode).toBe(403);

    // A bad edit: every problem named by its column, nothing written.
    const bad = await ada.post('/registry/FRA', { ...fields, email_to: 'not-an-address', language: 'xx', city: '' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('field email_to');
    expect(bad.body).toContain('field language');
    expect(bad.body).toContain('field city');
    expect((await ada.get('/api/registry/FRA')).json<{ language: string }>().language).toBe('fr');
    const edits = await rt.db.selectFrom('events').select(['type', 'actor']).where('type', '=', 'registry.recipient-edited').execute();
    expect(edits).toEqual([{ type: 'registry.recipient-edited', actor: 'ada' }]);
  });

  it('runs an import dry run that lists every error before anything is written', async () => {
    const ada = await signIn('ada');
    const csv = [
      'id,kind,language,addressee_type,name_en_short,name_en_running,name_en_of,title_en,title_en_dative,title_en_gender,address_line1,city,email_to',
      'XXA,state,en,permanent-mission,Xa,Xa,of Xa,Mission,to the Mission,f,1 Road,Vienna,x@xa.example',
      'XXB,state,en,permanent-mission,Xb,Xb,of Xb,Mission,to the Mission,q,1 Road,Vienna,not-an-address',
      'xx,state,en,permanent-mission,Xc,Xc,of Xc,Mission,to the Mission,m,1 Road,,x@xc.example',
    ].join('\n');
    const r = await ada.api('POST', '/api/registry/import', { csv, dryRun: false, name: 'bad.csv' });
    expect(r.statusCode).toBe(400);
    const problems = r.json<{ problems: string[] }>().problems;
    expect(problems.some((p) => /row 2 \(XXB\), field title_en_gender/.test(p))).toBe(true);
    expect(problems.some((p) => /row 2 \(XXB\), field email_to/.test(p))).toBe(true);
    expect(problems.some((p) => /row 3 \(xx\), field id/.test(p))).toBe(true);
    expect(problems.some((p) => /row 3 \(xx\), field city/.test(p))).toBe(true);
    expect(await rt.db.selectFrom('recipients').select('id').where('id', 'like', 'XX%').execute()).toEqual([]);
    const good = csv.split('\n').slice(0, 2).join('\n');
    const dry = await ada.api('POST', '/api/registry/import', { csv: good, dryRun: true });
    expect(dry.json()).toMatchObject({ rows: 1, dryRun: true, added: 1 });
    expect(await rt.db.selectFrom('recipients').select('id').where('id', '=', 'XXA').execute()).toEqual([]);
    expect((await (await signIn('dora')).api('POST', '/api/registry/import', { csv: good, dryRun: false })).statusCode).toBe(403);
  });

  it('opens the queue dashboard and the user admin to administrators only; documents the API', async () => {
    const ada = await signIn('ada');
    const alan = await signIn('alan');
    expect((await ada.get('/admin/queues')).statusCode).toBe(200);
    expect((await alan.get('/admin/queues')).statusCode).toBe(403);
    expect((await alan.get('/admin/queues/api/queues')).statusCode).toBe(403);
    expect((await alan.get('/admin/users')).statusCode).toBe(403);
    expect((await alan.post('/admin/users', { name: 'eve', role: 'admin', password: 'eve-password-1' })).statusCode).toBe(403);
    const doc = await alan.get('/api/openapi.json');
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys(doc.json<{ paths: Record<string, unknown> }>().paths);
    expect(paths).toContain('/api/campaigns/{id}/send');
    expect(paths).toContain('/api/registry/import');
    expect(paths.every((p) => p.startsWith('/api/'))).toBe(true);
  });

  it('rate-limits sign-in attempts and marks the session cookie Secure over HTTPS', async () => {
    const limited = await buildServer({ runtime: rt, secret: randomBytes(32), loginRateLimit: { max: 3, timeWindowMs: 60_000 }, trustProxy: { addresses: ['127.0.0.1'] } });
    try {
      const jar = new Jar();
      const page = await limited.inject({ method: 'GET', url: '/login', headers: { 'x-forwarded-proto': 'https' } });
      jar.take(page);
      const token = tokenIn(page.body)!;
      const attempt = (password: string) =>
        limited.inject({ method: 'POST', url: '/login', headers: { cookie: jar.header(), 'x-forwarded-proto': 'https' }, payload: { _csrf: token, name: 'alan', password } });
      const ok = await attempt(PASSWORDS.alan);
      expect(ok.statusCode).toBe(303);
      expect(String([ok.headers['set-cookie']].flat().find((c) => String(c).startsWith('chancery_session=')))).toMatch(/; Secure/);
      expect((await attempt('wrong-1')).statusCode).toBe(401);
      expect((await attempt('wrong-2')).statusCode).toBe(401);
      const blocked = await attempt(PASSWORDS.alan);
      expect(blocked.statusCode).toBe(429);
      expect(blocked.cookies.find((c) => c.name === 'chancery_session')).toBeUndefined();
    } finally {
      await limited.close();
    }
  });
});
