import pg from 'pg';
import { PostgresDialect } from 'kysely';
import { InfrastructureError } from '../errors.ts';

/**
 * PostgreSQL behind DATABASE_URL: the connection pool Kysely's PostgresDialect runs on, and the
 * one-line errors a user sees when it cannot be reached. Only what differs from SQLite lives
 * here; the queries are the same (see db.ts and tx.ts for the rest of the seam).
 */

/** Where the server is, for messages: user@host:port/database, never the password. */
export function describePostgres(url: string): { where: string; hostPort: string; password: string } {
  const u = new URL(url);
  const host = u.hostname || 'localhost';
  const hostPort = `${host}:${u.port || '5432'}`;
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username);
  return { where: `${hostPort}/${database}`, hostPort, password: decodeURIComponent(u.password) };
}

/**
 * int8 (every integer column: SQLite's integer is 64-bit, so bigint here; count(*)) and numeric come back from pg as strings, to keep precision
 * beyond 2^53; every such value in the store is a count or an id far below that, and the code
 * (written for SQLite) expects numbers. Per pool, not pg's global table, so nothing else changes.
 */
const numberTypes = new Set<number>([pg.types.builtins.INT8, pg.types.builtins.NUMERIC]);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    numberTypes.has(oid) && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Connections per process: a worker's concurrent jobs each hold one for a transaction. */
const POOL_SIZE = 10;

export function postgresDialect(url: string): { dialect: PostgresDialect; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, types, max: POOL_SIZE, connectionTimeoutMillis: 10_000 });
  // An idle connection dropped by the server (restart, failover) must not end the process: the
  // next query takes a fresh connection and reports its own error if the server is still gone.
  pool.on('error', () => undefined);
  return { dialect: new PostgresDialect({ pool }), pool };
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', '57P03']);

/**
 * The error to show for a failure to open the store at `url`: exit 3 naming host and port for an
 * unreachable server, a refused login or a missing database; undefined for anything else. The
 * password is taken out of every message, whatever the driver put in it.
 */
export function postgresOpenError(err: unknown, url: string): InfrastructureError | undefined {
  const { where, hostPort, password } = describePostgres(url);
  const e = err as { code?: string; message?: string };
  const reason = redact(String(e.message ?? err), password);
  if ((e.code && UNREACHABLE.has(e.code)) || /timeout expired|Connection terminated/i.test(reason)) {
    return new InfrastructureError(`PostgreSQL at ${hostPort} is unreachable (${e.code ?? reason}); check DATABASE_URL and that the server runs`);
  }
  if (e.code === '28P01' || e.code === '28000') return new InfrastructureError(`PostgreSQL at ${hostPort} refused the login: ${reason}; check the user and password in DATABASE_URL`);
  if (e.code === '3D000') return new InfrastructureError(`PostgreSQL at ${where}: ${reason}; create it first (createdb)`);
  return undefined;
}

/** `text` with every occurrence of the password replaced (raw and URL-encoded). */
export function redact(text: string, password: string): string {
  if (!password) return text;
  return text.split(password).join('***').split(encodeURIComponent(password)).join('***');
}
