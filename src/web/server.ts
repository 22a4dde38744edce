import fs from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { isIP } from 'node:net';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyMultipart from '@fastify/multipart';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { ZodError } from 'zod';
import { ChanceryError, InfrastructureError, UsageError } from '../errors.ts';
import { registerApiRoutes } from './api.ts';
import type { WebRuntime } from './context.ts';
import { registerPageRoutes } from './pages.ts';
import { QUEUES_PATH, registerQueueDashboard } from './queues.ts';
import { permissionsOf } from './roles.ts';
import { HttpError } from './service.ts';
import { sessionUser, type User } from './users.ts';
import { loadViews, type Views } from './views.ts';
import { readinessChecks } from '../campaigns/context.ts';
import { readiness, readinessBody } from '../ops/health.ts';

/**
 * The web console: Fastify with zod schemas (validation, serialization, OpenAPI), server-side
 * Handlebars pages, the JSON API under /api/, the queue dashboard under /admin/queues.
 *
 * Security, in one place:
 * - every route needs a signed-in user unless its config says `public` (login page, assets);
 * - sessions: random token in an HTTP-only, SameSite=Strict cookie, Secure when the request came
 *   over HTTPS (HSTS then too); only the token's SHA-256 is stored;
 * - every POST/PUT/PATCH/DELETE carries a CSRF token (form field _csrf or header x-csrf-token)
 *   bound to the session (@fastify/csrf-protection, signed secret cookie);
 * - sign-in is rate-limited per address; roles are checked in service.ts before any operation.
 */

declare module 'fastify' {
  interface FastifyRequest {
    auth: { user: User; sessionId: string } | null;
  }
  interface FastifyContextConfig {
    /** Reachable without signing in (login page, static assets). */
    public?: boolean;
  }
}

export const SESSION_COOKIE = 'chancery_session';
export const FLASH_COOKIE = 'chancery_flash';

export type WebServerOptions = {
  runtime: WebRuntime;
  /** Signs the CSRF cookie and binds CSRF tokens to sessions (context.ts loadWebSecret). */
  secret: Buffer;
  logger?: FastifyServerOptions['logger'];
  /** The process's logger (src/ops/log.ts), instead of `logger`. */
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /** Sign-in attempts allowed per client address per window (default 10 a minute). */
  loginRateLimit?: { max: number; timeWindowMs: number };
  /**
   * Behind reverse proxies: whose X-Forwarded-For/-Proto/-Host to believe (parseTrustProxy), so
   * the client's address (rate limit, audit), HTTPS (Secure cookies, HSTS) come from them.
   * Absent: no proxy, the headers are ignored.
   */
  trustProxy?: TrustProxy;
};

/** The proxies' addresses or CIDRs, or how many proxies stand in front (hops). */
export type TrustProxy = { addresses: string[] } | { hops: number };

const NAMED_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * The value of `serve --trust-proxy`: "10.0.0.1,10.1.0.0/16" (the proxies' addresses or CIDRs;
 * also loopback, linklocal, uniquelocal), or "1" (the number of proxies in front: the last that
 * many X-Forwarded-For entries are believed whoever sent them, so only for a server the
 * proxies alone can reach).
 */
export function parseTrustProxy(value: string): TrustProxy {
  if (/^\d+$/.test(value.trim())) {
    const hops = Number(value.trim());
    if (hops < 1 || hops > 10) throw new UsageError(`--trust-proxy: ${hops} hops: give 1 to 10 proxies, or their addresses`);
    return { hops };
  }
  const addresses = value.split(',').map((a) => a.trim());
  for (const a of addresses) {
    const [ip, prefix, ...rest] = a.split('/');
    const family = isIP(ip ?? '');
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (!(NAMED_RANGES.includes(a) || (family !== 0 && prefixOk && rest.length === 0))) {
      throw new UsageError(`--trust-proxy: "${a}" is not an IP address, a CIDR range (10.0.0.0/8) or a number of hops`);
    }
  }
  return { addresses };
}

/** Fastify's trustProxy: hops as "the first N addresses from the socket back", which its number form no longer means. */
function fastifyTrustProxy(t: TrustProxy | undefined): FastifyServerOptions['trustProxy'] {
  if (!t) return false;
  if ('hops' in t) return (_address: string, hop: number) => hop < t.hops;
  return t.addresses;
}

/** An API error body's name, from its status: "forbidden", "not-found", "too-many-requests". */
function errorName(status: number): string {
  return (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/[^a-z]+/g, '-');
}

export type WebApp = FastifyInstance & { views: Views; runtime: WebRuntime; routeList: RouteEntry[] };

/** Every route the server has (plugins' included), for the security tests and a route overview. */
export type RouteEntry = { method: string; url: string; public: boolean };

const PUBLIC_DIR = path.join(import.meta.dirname, 'public');

export function isApi(req: FastifyRequest): boolean {
  return req.url === '/api' || req.url.startsWith('/api/');
}

/** Data every page needs: who is signed in, what they may do, a CSRF token for its forms. */
export function pageData(req: FastifyRequest, reply: FastifyReply): Record<string, unknown> {
  const auth = req.auth;
  const csrf = reply.generateCsrf({ userInfo: auth?.sessionId ?? 'anonymous' } as Parameters<FastifyReply['generateCsrf']>[0]);
  let flash: unknown;
  const raw = req.cookies[FLASH_COOKIE];
  if (raw) {
    const un = reply.unsignCookie(raw);
    if (un.valid && un.value) {
      try {
        flash = JSON.parse(un.value);
      } catch {
        flash = undefined;
      }
    }
    reply.clearCookie(FLASH_COOKIE, { path: '/' });
  }
  return { user: auth?.user, can: auth ? permissionsOf(auth.user.role) : {}, csrf, flash };
}

export function setFlash(reply: FastifyReply, kind: 'ok' | 'error', text: string): void {
  reply.setCookie(FLASH_COOKIE, JSON.stringify({ kind, text: text.slice(0, 1000) }), { path: '/', httpOnly: true, sameSite: 'strict', secure: 'auto', signed: true, maxAge: 60 });
}

function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.statusCode;
  if (err instanceof InfrastructureError) return 503;
  if (err instanceof ChanceryError || err instanceof ZodError) return 400;
  const code = (err as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' && code >= 400 && code < 600 ? code : 500;
}

function messageOf(err: unknown, status: number): string {
  if (status >= 500 && !(err instanceof ChanceryError)) return 'internal error (see the server log)';
  if (err instanceof ZodError) return err.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
  return err instanceof Error ? err.message : String(err);
}

export async function buildServer(opts: WebServerOptions): Promise<WebApp> {
  const { runtime, secret } = opts;
  const app = Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: opts.logger ?? false }),
    trustProxy: fastifyTrustProxy(opts.trustProxy),
    bodyLimit: 20 * 1024 * 1024,
  }) as unknown as WebApp;
  const routeList: RouteEntry[] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routeList.push({ method, url: r.url, public: Boolean(r.config?.public) });
  });
  app.decorate('routeList', routeList);
  app.decorate('views', loadViews());
  app.decorate('runtime', runtime);
  app.decorateRequest('auth', null);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(fastifyCookie, { secret: secret.toString('hex'), hook: 'onRequest' });
  await app.register(fastifyFormbody);
  await app.register(fastifyMultipart, { attachFieldsToBody: true, limits: { fileSize: 20 * 1024 * 1024, files: 1, fields: 2000 } });
  await app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: 'chancery_csrf',
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: 'auto', signed: true },
    getUserInfo: (req: FastifyRequest) => req.auth?.sessionId ?? 'anonymous',
    getToken: (req: FastifyRequest) => {
      const body = req.body as Record<string, unknown> | undefined;
      const field = body?._csrf;
      if (typeof field === 'string') return field;
      if (field && typeof (field as { value?: unknown }).value === 'string') return (field as { value: string }).value; // multipart
      const header = req.headers['x-csrf-token'] ?? req.headers['csrf-token'];
      return typeof header === 'string' ? header : undefined;
    },
    csrfOpts: { hmacKey: secret, userInfo: true },
  });
  await app.register(fastifyRateLimit, { global: false });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Chancery API', description: 'The web console’s operations as JSON: sign in through /login (session cookie), send the x-csrf-token header from GET /api/session with every POST.', version: '1.0.0' },
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE } } },
      security: [{ session: [] }],
    },
    transform: jsonSchemaTransform,
    // Only the tagged /api/ routes are documented; pages and the dashboard are not API.
    hideUntagged: true,
  });

  // Who is asking: the session cookie, looked up in the store on every request.
  app.addHook('onRequest', async (req, reply) => {
    const found = await sessionUser(runtime.db, req.cookies[SESSION_COOKIE]);
    req.auth = found ?? null;
    if (req.routeOptions.config.public) return;
    if (!req.auth) {
      if (isApi(req) || req.method !== 'GET') return reply.code(401).type('application/json').send({ error: errorName(401), message: 'sign in first (POST /login)' });
      return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
    }
  });

  // CSRF on every state-changing request, after the body is parsed (the token may be in it).
  app.addHook('preHandler', (req, reply, done) => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(req.method) || req.url.startsWith(`${QUEUES_PATH}/`)) return done(); // see queues.ts
    app.csrfProtection(req, reply, done);
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404);
    if (isApi(req)) return reply.send({ error: errorName(404), message: `no route ${req.method} ${req.url}` });
    return reply.type('text/html').send(app.views.render('error', { ...pageData(req, reply), status: 404, message: `no page ${req.url}` }));
  });

  app.setErrorHandler((err, req, reply) => {
    const status = statusOf(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ status, reason: messageOf(err, status) }, 'request refused');
    reply.code(status);
    if (status === 429) reply.header('retry-after', '60');
    if (isApi(req)) {
      return reply.type('application/json').send({ error: errorName(status), message: messageOf(err, status) });
    }
    return reply.type('text/html').send(app.views.render('error', { ...pageData(req, reply), status, message: messageOf(err, status) }));
  });

  const assets: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8' };
  for (const [name, type] of Object.entries(assets)) {
    const text = fs.readFileSync(path.join(PUBLIC_DIR, name), 'utf8');
    app.get(`/assets/${name}`, { config: { public: true }, schema: { hide: true } }, async (_req, reply) => reply.type(type).header('cache-control', 'no-cache').send(text));
  }

  // Every response: no framing by others, no inline script, HTTPS kept once used, and nothing
  // stored by any cache (pages, JSON, audit downloads, letters) unless its route says otherwise.
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'SAMEORIGIN');
    reply.header('referrer-policy', 'same-origin');
    // req.protocol believes X-Forwarded-Proto only from a trusted proxy (trustProxy).
    if (req.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    // The queue dashboard is a packaged single-page app with its own inline code: no CSP there.
    if (String(reply.getHeader('content-type') ?? '').startsWith('text/html') && !req.url.startsWith('/admin/queues')) {
      reply.header('content-security-policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'self'; frame-ancestors 'self'; form-action 'self'");
    }
    return payload;
  });

  // Health checks for load balancers and orchestrators: no sign-in, nothing but the parts' states.
  app.get('/healthz', { config: { public: true }, schema: { hide: true } }, async () => ({ alive: true }));
  app.get('/readyz', { config: { public: true }, schema: { hide: true } }, async (_req, reply) => {
    const { status, body } = readinessBody(await readiness(readinessChecks(runtime)));
    return reply.code(status).header('cache-control', 'no-store').send(body);
  });

  registerPageRoutes(app, { loginRateLimit: opts.loginRateLimit ?? { max: 10, timeWindowMs: 60_000 } });
  registerApiRoutes(app);
  await registerQueueDashboard(app);
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
