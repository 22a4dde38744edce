import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { withDeadline } from './stop.ts';

/**
 * Health checks: /healthz says the process is alive (it answers); /readyz that the parts it
 * needs answer now (each probed afresh, with a short deadline), 503 naming those that do not.
 */

/** One part to probe: resolves if it answers. */
export type Check = { name: string; probe: () => Promise<unknown> };

export type Readiness = { ready: boolean; parts: Record<string, string> };

export const PROBE_MS = 2_000;

export async function readiness(checks: Check[], timeoutMs = PROBE_MS): Promise<Readiness> {
  const results = await Promise.all(
    checks.map(async (c): Promise<[string, string]> => {
      try {
        const r = await withDeadline(c.probe(), timeoutMs);
        return [c.name, r === 'timeout' ? `unreachable: no answer within ${timeoutMs} ms` : 'ok'];
      } catch (err) {
        return [c.name, `unreachable: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`];
      }
    }),
  );
  return { ready: results.every(([, s]) => s === 'ok'), parts: Object.fromEntries(results) };
}

/**
 * The /readyz answer: 200, or 503 naming the parts that do not answer,
 * `{"ready":false,"parts":{"store":"ok","redis":"unreachable"},"unreachable":["redis"]}`.
 * Reasons (addresses, errors) stay in the log and `chancery status`: the endpoint needs no sign-in.
 */
export function readinessBody(r: Readiness): { status: number; body: { ready: boolean; parts: Record<string, string>; unreachable?: string[] } } {
  const down = Object.entries(r.parts).filter(([, s]) => s !== 'ok').map(([n]) => n);
  const parts = Object.fromEntries(Object.entries(r.parts).map(([n, s]) => [n, s === 'ok' ? 'ok' : 'unreachable']));
  return { status: r.ready ? 200 : 503, body: { ready: r.ready, parts, ...(down.length ? { unreachable: down } : {}) } };
}

/** `chancery worker --health-port`: a small HTTP server with /healthz and /readyz. */
export async function startHealthServer(port: number, host: string, checks: Check[]): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'GET only' });
    if (path === '/healthz') return send(200, { alive: true });
    if (path === '/readyz') {
      void readiness(checks).then((r) => {
        const { status, body } = readinessBody(r);
        send(status, body);
      });
      return;
    }
    send(404, { error: 'not found: /healthz, /readyz' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
