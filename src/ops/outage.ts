import { logger, logSettings } from './log.ts';

/**
 * What a process says about the parts it depends on (Redis, SMTP, the store): one line when a
 * part becomes unreachable, one line every LOG_OUTAGE_EVERY_MS while it stays so (with the
 * number of failed attempts), one line when it is back (with how long it was away). An expected
 * outage (a refused or dropped connection) carries no stack trace; any other error is logged
 * whole, stack included, since it is a bug or a misconfiguration.
 */

export type Part = {
  readonly name: string;
  /** A failure talking to the part. `count`: a connection attempt of ours (false: the same failure seen again through a library). */
  report(err: unknown, opts?: { count?: boolean }): void;
  /** The part answered. */
  ok(): void;
  readonly down: boolean;
};

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED', 'EADDRNOTAVAIL', 'ECONNECTION', 'ESOCKET', 'ETIMEOUT', 'EDNS']);
const NETWORK_MESSAGES = /Connection is closed|connect ETIMEDOUT|max retries per request|None of startup nodes is available|Failed to refresh slots cache|CLUSTERDOWN|LOADING|is unreachable|Connection terminated|timeout exceeded when trying to connect/i;

/** A refused, dropped or timed-out connection: what an outage looks like, not a bug. */
export function isOutageError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  return NETWORK_MESSAGES.test(err.message) || (err.cause !== undefined && err.cause !== err && isOutageError(err.cause));
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
}

const parts = new Map<string, Part>();

/** The process's tracker of one part ('redis', 'smtp', 'store'). */
export function part(name: string): Part {
  let p = parts.get(name);
  if (!p) {
    p = makePart(name, logSettings.LOG_OUTAGE_EVERY_MS);
    parts.set(name, p);
  }
  return p;
}

function makePart(name: string, everyMs: number): Part {
  const log = logger.child({ part: name });
  let since = 0;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  const seconds = () => Math.round((Date.now() - since) / 1000);
  return {
    name,
    get down() {
      return timer !== undefined;
    },
    report(err, opts = {}) {
      if (!isOutageError(err)) {
        log.error({ err }, `${name}: ${firstLine(err)}`);
        return;
      }
      if (opts.count !== false) failures++;
      if (timer) return;
      since = Date.now();
      failures = opts.count !== false ? 1 : 0;
      log.warn({ reason: firstLine(err) }, `${name} unreachable: ${firstLine(err)}`);
      timer = setInterval(() => log.warn({ down_s: seconds(), attempts: failures }, `${name} still unreachable after ${seconds()} s (${failures} failed attempts)`), everyMs);
      timer.unref();
    },
    ok() {
      if (!timer) return;
      clearInterval(timer);
      timer = undefined;
      log.info({ down_s: seconds(), attempts: failures }, `${name} back after ${seconds()} s`);
    },
  };
}
