import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { WebRuntime } from './context.ts';
import { permissionsOf } from './roles.ts';
import type { User } from './users.ts';
import type { Views } from './views.ts';

/**
 * What the server (server.ts) and its routes (pages.ts, api.ts) share: the request's session,
 * the cookie names, the data every page needs, the flash message, the route parameters. The
 * routes import from here, never from server.ts, so server -> pages/api -> http has no back-arrow.
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

export type WebApp = FastifyInstance & { views: Views; runtime: WebRuntime; routeList: RouteEntry[] };

/** Every route the server has (plugins' included), for the security tests and a route overview. */
export type RouteEntry = { method: string; url: string; public: boolean };

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

/** Route parameters shared by the pages and the API. */
export const campaignIdSchema = z.string().regex(/^c[0-9a-z]{1,40}$/, 'is not a campaign id');
export const recipientIdSchema = z.string().min(1).max(80);
