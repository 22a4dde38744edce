import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../../src/queue/redis.ts';

/**
 * A private PostgreSQL cluster from Debian's packages for a test file: initdb in a temp folder,
 * the server on a free loopback port with fsync off, a password-protected role `chancery`, and a
 * fresh database per test (createDatabase). Run as the `postgres` OS user when the tests run as
 * root (the server refuses root). The server is this process's foreground child, not a daemon
 * started by pg_ctl, so a test run that ends abruptly can stop it (as test/helpers/redis.ts does).
 */

export type TestPostgres = {
  host: string;
  port: number;
  /** The role the tests (and Chancery) log in as, and its password. */
  user: string;
  password: string;
  /** The cluster's folder (data, socket, log), removed by stop(). */
  dir: string;
  /** postgres://chancery:PASSWORD@127.0.0.1:PORT/NAME for a database of the cluster (need not exist). */
  url(database: string): string;
  /** Creates a new empty database owned by the test role; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs one statement as the superuser (in `database`, default postgres). */
  admin<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  /**
   * Stops the server and starts it again on the same port and data. immediate: as
   * `pg_ctl restart -m immediate` (SIGQUIT: no checkpoint, crash recovery at start); else a fast
   * shutdown. `whileDown` runs between the two (an outage of the length it takes).
   */
  restart(opts?: { immediate?: boolean; whileDown?: () => Promise<void> }): Promise<void>;
  /** Fast shutdown and removal of the folder. */
  stop(): Promise<void>;
};

const children = new Set<ChildProcess>();
// A test run that ends abruptly must not leave servers behind: SIGQUIT is PostgreSQL's immediate
// shutdown, which also ends every backend (SIGKILL would leave them running).
process.once('exit', () => children.forEach((c) => c.kill('SIGQUIT')));

/** The folder of Debian's server binaries (/usr/lib/postgresql/<ver>/bin, newest version); not on PATH. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: run scripts/setup.sh test');
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(root, versions[0]!, 'bin');
}

/** uid/gid to run the server as: the postgres user when we are root, else ourselves. */
function serverIdentity(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

const SUPERUSER = 'postgres';

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const who = serverIdentity();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-pg-'));
  const data = path.join(dir, 'data');
  const adminPassword = randomBytes(12).toString('hex');
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const user = 'chancery';
  fs.writeFileSync(path.join(dir, 'pwfile'), `${adminPassword}\n`);
  if (who.uid !== undefined) {
    fs.chownSync(dir, who.uid, who.gid!);
    fs.chownSync(path.join(dir, 'pwfile'), who.uid, who.gid!);
  }
  // C locale: text sorts by byte as in SQLite. Passwords required on TCP, none on the socket.
  execFileSync(
    path.join(bin, 'initdb'),
    ['-D', data, '-U', SUPERUSER, '--pwfile', path.join(dir, 'pwfile'), '--auth-host=scram-sha-256', '--auth-local=trust', '--locale=C', '-E', 'UTF8', '--no-sync'],
    { ...who, stdio: 'pipe', cwd: dir },
  );
  fs.rmSync(path.join(dir, 'pwfile'));
  const port = await freePort();
  const host = '127.0.0.1';
  const logFile = path.join(dir, 'server.log');
  let child: ChildProcess | undefined;

  const adminClient = async (database = 'postgres') => {
    const c = new pg.Client({ host, port, user: SUPERUSER, password: adminPassword, database, connectionTimeoutMillis: 2000 });
    c.on('error', () => {});
    await c.connect();
    return c;
  };

  const start = async () => {
    const log = fs.openSync(logFile, 'a');
    if (who.uid !== undefined) fs.fchownSync(log, who.uid, who.gid!);
    const proc = spawn(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-h', host, '-k', dir, '-F', '-c', 'max_connections=200'], {
      ...who,
      cwd: dir,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    const spawnError = new Promise<never>((_, reject) => proc.once('error', reject));
    spawnError.catch(() => {});
    for (let i = 0; i < 400; i++) {
      await Promise.race([sleep(50), spawnError]);
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      const ok = await adminClient().then(
        (c) => c.end().then(() => true),
        () => false,
      );
      if (ok) {
        child = proc;
        return;
      }
    }
    proc.kill('SIGQUIT');
    throw new Error(`test postgres did not start on port ${port}: ${fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
  };

  const shutdown = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await Promise.race([gone, sleep(30_000).then(() => proc.kill('SIGKILL'))]);
    await gone;
  };

  const admin: TestPostgres['admin'] = async (text, params, database) => {
    const c = await adminClient(database);
    try {
      return await c.query(text, params);
    } finally {
      await c.end();
    }
  };

  await start();
  await admin(`create role ${user} login password '${password}'`);
  let databases = 0;
  const url = (database: string) => `postgres://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}`;
  return {
    host,
    port,
    user,
    password,
    dir,
    url,
    async createDatabase(name) {
      const db = name ?? `t${process.pid}_${++databases}`;
      await admin(`create database ${db} owner ${user}`);
      return url(db);
    },
    admin,
    async restart(opts = {}) {
      // SIGQUIT is what pg_ctl stop -m immediate sends; SIGINT is -m fast.
      await shutdown(opts.immediate ? 'SIGQUIT' : 'SIGINT');
      await opts.whileDown?.();
      await start();
    },
    async stop() {
      await shutdown('SIGINT');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
