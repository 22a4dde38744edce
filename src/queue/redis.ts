import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Config } from '../config.ts';
import { InfrastructureError } from '../errors.ts';
import { part } from '../ops/outage.ts';

/**
 * The Redis that queues use. `managed`: the redis-server Chancery runs itself in var/redis;
 * `started`: this very call started it (so a caller may stop only what it started).
 * stop(): a no-op for a REDIS_URL server; for the managed one, a clean SHUTDOWN (AOF flushed).
 */
export type RedisHandle = {
  url: string;
  managed: boolean;
  started?: boolean;
  connectionOptions: RedisOptions;
  /** A Redis Cluster (REDIS_CLUSTER): the nodes to start from; connectionOptions then hold only user, password and TLS. */
  clusterNodes?: ClusterNode[];
  stop(): Promise<void>;
};

/** A client to open: the options of a single server, or of every node of a cluster. */
type Target = Pick<RedisHandle, 'connectionOptions' | 'clusterNodes'>;

/** The Redis, or Redis Cluster, of one handle. */
export type RedisClient = Redis | Cluster;

export type ManagedRedisStatus = { dir: string; running: boolean; port?: number; pid?: number; url?: string };

const INSTALL_HINT = 'redis-server is not installed: apt-get install redis-server (or set REDIS_URL)';

// ---------------------------------------------------------------------------------------------
// Given Redis (REDIS_URL)

/** ioredis options of a redis:// or rediss:// URL (user, password, db number in the path). */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new InfrastructureError(`REDIS_URL: '${redactUrl(url)}' is not a redis:// or rediss:// URL`);
  }
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db && /^\d+$/.test(db) ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** The URL (or a cluster's comma-separated URLs) with passwords replaced, for messages. */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((one) => {
      try {
        const u = new URL(one.trim());
        if (u.password) u.password = '***';
        return u.toString();
      } catch {
        return '(unparsable URL)';
      }
    })
    .join(',');
}

/**
 * A handle on a Redis that Chancery does not manage: stop() does nothing. For tests and tools.
 * cluster: `url` lists nodes of a Redis Cluster, comma-separated; the first one's user,
 * password and TLS serve them all.
 */
export function handleForUrl(url: string, cluster = false): RedisHandle {
  const stop = async () => {};
  if (!cluster) return { url, managed: false, started: false, connectionOptions: redisOptionsFromUrl(url), stop };
  const nodes = url.split(',').map((u) => redisOptionsFromUrl(u.trim()));
  const { host: _host, port: _port, db, ...credentials } = nodes[0]!;
  if (nodes.some((n) => n.db)) throw new InfrastructureError(`REDIS_URL: '${redactUrl(url)}': a Redis Cluster has only database 0`);
  return { url, managed: false, started: false, connectionOptions: credentials, clusterNodes: nodes.map((n) => ({ host: n.host!, port: n.port! })), stop };
}

/**
 * The one place a single Redis and a Redis Cluster differ: a new client for the target with
 * `options`. A Cluster takes the reconnection, offline queue and lazy connection settings for
 * itself and passes the rest to the connection of each node.
 */
function newClient(target: Target, options: RedisOptions): RedisClient {
  if (!target.clusterNodes) return new Redis({ ...target.connectionOptions, ...options });
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = options;
  const cluster = new Cluster(target.clusterNodes, {
    redisOptions: { ...target.connectionOptions, ...perNode },
    ...(retryStrategy !== undefined ? { clusterRetryStrategy: retryStrategy } : {}),
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
  });
  // A Cluster holds commands while it reconnects, however long that takes: where a single Redis
  // fails them (maxRetriesPerRequest), a command line would hang. Once connected, fail them too.
  if (typeof perNode.maxRetriesPerRequest === 'number') cluster.once('ready', () => (cluster.options.enableOfflineQueue = false));
  return cluster;
}

/** The managed (or a test's) server on a loopback port. */
function local(port: number): Target {
  return { connectionOptions: { host: '127.0.0.1', port } };
}

/** One short-lived connection: no retries, no offline queue, a hard deadline. */
async function withClient<T>(target: Target, timeoutMs: number, fn: (c: RedisClient) => Promise<T>): Promise<T> {
  const client = newClient(target, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // ioredis rejects with a bare "Connection is closed."; the socket error says why (ECONNREFUSED…).
  let socketError: Error | undefined;
  client.on('error', (err: Error) => (socketError ??= err));
  client.on('node error', (err: Error) => (socketError ??= err)); // a Cluster's node that does not answer
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      (async () => {
        await client.connect();
        return fn(client);
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs + 250);
      }),
    ]);
  } catch (err) {
    throw socketError && err instanceof Error && /Connection is closed/.test(err.message) ? socketError : err;
  } finally {
    clearTimeout(timer);
    // After SHUTDOWN the socket is closed already; disconnect() would then hold a 2 s timer.
    if (client.status !== 'end') client.disconnect();
  }
}

function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
}

// ---------------------------------------------------------------------------------------------
// Managed redis-server in var/redis

type Files = { dir: string; port: string; pid: string; log: string; lock: string };

function files(dir: string): Files {
  const d = path.resolve(dir);
  return {
    dir: d,
    port: path.join(d, 'redis.port'),
    pid: path.join(d, 'redis.pid'),
    log: path.join(d, 'redis.log'),
    lock: path.join(d, 'start.lock'),
  };
}

function readInt(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A daemon that exited but was not reaped yet (a container's init may be slow to) is a zombie: gone.
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Port of a live redis-server process, from its title "redis-server 127.0.0.1:PORT" (Linux /proc). */
function redisProcessPort(pid: number): number | undefined {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    const m = /redis-server\s+\S*:(\d+)/.exec(cmd);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Answers PING and is the server whose data is in `dir` (not some other Redis on that port). */
async function isOurs(port: number, dir: string, timeoutMs = 1000): Promise<boolean> {
  try {
    return await withClient(local(port), timeoutMs, async (c) => {
      if ((await c.ping()) !== 'PONG') return false;
      const reply = (await c.call('CONFIG', 'GET', 'dir')) as string[];
      return reply[1] !== undefined && fs.realpathSync(reply[1]) === fs.realpathSync(dir);
    });
  } catch {
    return false;
  }
}

/** The managed server of `dir` if it runs and answers; repairs a lost port file from the process title. */
async function findRunning(f: Files): Promise<{ port: number; pid?: number } | undefined> {
  if (!fs.existsSync(f.dir)) return undefined;
  const pid = readInt(f.pid);
  const live = pid !== undefined && pidAlive(pid) ? pid : undefined;
  const port = readInt(f.port);
  if (port !== undefined && (await isOurs(port, f.dir))) return { port, ...(live ? { pid: live } : {}) };
  if (live !== undefined) {
    const titlePort = redisProcessPort(live);
    if (titlePort !== undefined && titlePort !== port && (await isOurs(titlePort, f.dir))) {
      fs.writeFileSync(f.port, `${titlePort}\n`);
      return { port: titlePort, pid: live };
    }
  }
  return undefined;
}

/** A redis-server still holding `dir` without answering: never start a second one on the same AOF. */
function strayServer(f: Files): number | undefined {
  const pid = readInt(f.pid);
  if (pid === undefined || !pidAlive(pid)) return undefined;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Only one process starts (or stops) the managed server at a time: start.lock created with
 * O_EXCL. A lock whose holder is dead, or older than 30 s, is stale and taken over.
 */
async function acquireLock(f: Files, timeoutMs = 20_000): Promise<() => void> {
  fs.mkdirSync(f.dir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = fs.openSync(f.lock, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return () => fs.rmSync(f.lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new InfrastructureError(`managed Redis: cannot create ${f.lock}: ${reason(err)}`);
      }
    }
    const holder = readInt(f.lock);
    let age = 0;
    try {
      age = Date.now() - fs.statSync(f.lock).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    if ((holder !== undefined && !pidAlive(holder)) || age > 30_000 || (holder === undefined && age > 2_000)) {
      fs.rmSync(f.lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new InfrastructureError(`managed Redis: ${f.lock} held by pid ${holder ?? '?'} for ${Math.round(age / 1000)} s`);
    }
    await sleep(50);
  }
}

/** A port free on the loopback interface right now (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Runs `redis-server --daemonize yes ...`; resolves once the launcher has exited. */
function launch(f: Files, port: number): Promise<void> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--protected-mode', 'yes',
    '--dir', f.dir,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--save', '', // no RDB snapshots: the AOF is the durable copy
    '--maxmemory-policy', 'noeviction', // BullMQ keys must never be evicted
    '--daemonize', 'yes',
    '--pidfile', f.pid,
    '--logfile', f.log,
  ];
  return new Promise((resolve, reject) => {
    let out = '';
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new InfrastructureError(INSTALL_HINT) : new InfrastructureError(`redis-server: ${reason(err)}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new InfrastructureError(`redis-server exited with status ${code}: ${lastLine(out) || 'no output'}`));
    });
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop()?.trim() ?? '';
}

function logTail(f: Files): string {
  try {
    const lines = fs.readFileSync(f.log, 'utf8').trim().split('\n');
    const bad = lines.slice(-20).reverse().find((l) => /#|error|fail|could not|can't/i.test(l));
    return (bad ?? lines[lines.length - 1] ?? '').trim();
  } catch {
    return '';
  }
}

function managedHandle(f: Files, port: number, started: boolean): RedisHandle {
  return {
    url: `redis://127.0.0.1:${port}`,
    managed: true,
    started,
    connectionOptions: { host: '127.0.0.1', port },
    stop: async () => {
      await stopManaged(f);
    },
  };
}

async function ensureManaged(f: Files): Promise<RedisHandle> {
  const running = await findRunning(f);
  if (running) return managedHandle(f, running.port, false);
  const release = await acquireLock(f);
  try {
    // Another process may have started it while we waited for the lock.
    const again = await findRunning(f);
    if (again) return managedHandle(f, again.port, false);
    const stray = strayServer(f);
    if (stray !== undefined) {
      throw new InfrastructureError(`managed Redis: redis-server pid ${stray} holds ${f.dir} but does not answer; stop it (kill ${stray}) and retry`);
    }
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      fs.rmSync(f.pid, { force: true });
      await launch(f, port);
      if (await waitUntilOurs(f, port, 10_000)) {
        fs.writeFileSync(f.port, `${port}\n`);
        return managedHandle(f, port, true);
      }
      lastError = logTail(f);
      // The port was taken between our probe and the server's bind: try another one.
      if (!/address already in use/i.test(lastError)) break;
    }
    throw new InfrastructureError(`managed Redis did not start in ${f.dir}: ${lastError || 'see redis.log'}`);
  } finally {
    release();
  }
}

async function waitUntilOurs(f: Files, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isOurs(port, f.dir, 500)) return true;
    // The daemon wrote its pid file and died already (bind error, bad AOF): no point waiting.
    const pid = readInt(f.pid);
    if (pid !== undefined && !pidAlive(pid)) return false;
    await sleep(50);
  }
  return false;
}

async function waitGone(pid: number | undefined, port: number | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pid !== undefined ? !pidAlive(pid) : port === undefined || !(await portAnswers(port))) return true;
    await sleep(50);
  }
  return false;
}

async function portAnswers(port: number): Promise<boolean> {
  try {
    await withClient(local(port), 500, (c) => c.ping());
    return true;
  } catch {
    return false;
  }
}

async function stopManaged(f: Files): Promise<boolean> {
  if (!fs.existsSync(f.dir)) return false;
  const release = await acquireLock(f);
  try {
    const running = await findRunning(f);
    if (running) {
      try {
        // SHUTDOWN flushes the AOF and exits; the server closes the connection instead of replying.
        await withClient(local(running.port), 5_000, (c) => c.call('SHUTDOWN'));
      } catch (err) {
        if ((err as Error).name === 'ReplyError') throw new InfrastructureError(`managed Redis refused SHUTDOWN: ${reason(err)}`);
      }
      if (!(await waitGone(running.pid, running.port, 15_000))) {
        throw new InfrastructureError(`managed Redis (port ${running.port}) did not stop within 15 s`);
      }
      fs.rmSync(f.port, { force: true });
      return true;
    }
    const stray = strayServer(f);
    if (stray !== undefined) {
      process.kill(stray, 'SIGTERM'); // redis-server treats SIGTERM as a clean shutdown
      if (!(await waitGone(stray, undefined, 15_000))) throw new InfrastructureError(`redis-server pid ${stray} did not stop within 15 s`);
      fs.rmSync(f.port, { force: true });
      return true;
    }
    fs.rmSync(f.port, { force: true });
    return false;
  } finally {
    release();
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * The Redis to use. REDIS_URL set: that server, checked with PING within ~3 s, never started
 * or stopped by us. Unset: the managed redis-server of cfg.paths.redis, reused when it answers,
 * otherwise started (daemonized, loopback, free port, AOF everysec, noeviction).
 */
export async function ensureRedis(cfg: Config): Promise<RedisHandle> {
  if (cfg.REDIS_URL) {
    const handle = handleForUrl(cfg.REDIS_URL, cfg.REDIS_CLUSTER);
    let clusterInfo: string;
    try {
      clusterInfo = await withClient(handle, 3_000, async (c) => {
        await c.ping();
        // A user without INFO or CLUSTER rights still works; only a clear mismatch is refused below.
        return handle.clusterNodes ? ((await c.call('CLUSTER', 'INFO').catch(() => '')) as string) : c.info('cluster').catch(() => '');
      });
    } catch (err) {
      throw new InfrastructureError(`REDIS_URL ${redactUrl(cfg.REDIS_URL)} is unreachable: ${reason(err)}`);
    }
    // A single-Redis client on a cluster node gets MOVED for other slots' keys; say so at once.
    if (!handle.clusterNodes && /cluster_enabled:1/.test(clusterInfo)) {
      throw new InfrastructureError(`REDIS_URL ${redactUrl(cfg.REDIS_URL)} is a node of a Redis Cluster: set REDIS_CLUSTER=1`);
    }
    const state = /cluster_state:(\w+)/.exec(clusterInfo)?.[1];
    if (handle.clusterNodes && state && state !== 'ok') {
      throw new InfrastructureError(`REDIS_URL ${redactUrl(cfg.REDIS_URL)}: the Redis Cluster's state is ${state}`);
    }
    return handle;
  }
  return ensureManaged(files(cfg.paths.redis));
}

/** Cleanly stops the managed redis-server (SHUTDOWN: AOF flushed). True if one was running. */
export async function stopManagedRedis(cfg: Config): Promise<boolean> {
  return stopManaged(files(cfg.paths.redis));
}

/** Whether the managed redis-server of cfg.paths.redis runs, and where. Starts nothing. */
export async function managedRedisStatus(cfg: Config): Promise<ManagedRedisStatus> {
  const f = files(cfg.paths.redis);
  const running = await findRunning(f);
  if (!running) return { dir: f.dir, running: false };
  return { dir: f.dir, running: true, port: running.port, url: `redis://127.0.0.1:${running.port}`, ...(running.pid ? { pid: running.pid } : {}) };
}

/**
 * A new ioredis connection to the handle's server.
 * forWorker: maxRetriesPerRequest null (BullMQ Workers and QueueEvents require it) and reconnect
 * forever with backoff up to 20 s, so a worker rides out a Redis restart.
 * Otherwise (producers, CLI): a command fails after one reconnection attempt (connect timeout 5 s)
 * instead of waiting for Redis to come back, so a command line never hangs on a dead Redis.
 * Either way the caller quit()s the connection when done.
 */
export function createConnection(handle: RedisHandle, opts: { forWorker?: boolean } = {}): RedisClient {
  const client = opts.forWorker
    ? newClient(handle, {
        maxRetriesPerRequest: null,
        retryStrategy: (times: number) => Math.max(Math.min(Math.exp(times), 20_000), 1_000),
      })
    : newClient(handle, {
        maxRetriesPerRequest: 1,
        connectTimeout: 5_000,
        retryStrategy: (times: number) => Math.min(times * 200, 2_000),
      });
  // Each failed (re)connection is one attempt of the outage the log tells about (src/ops/outage.ts).
  const redis = part('redis');
  client.on('error', (err: unknown) => redis.report(err));
  client.on('ready', () => redis.ok());
  return client;
}

/** PING on a connection of its own, within `timeoutMs` (health checks: never waits for a reconnection). */
export async function pingRedis(handle: RedisHandle, timeoutMs: number): Promise<void> {
  await withClient(handle, timeoutMs, (c) => c.ping());
}
