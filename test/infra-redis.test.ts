import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { InfrastructureError } from '../src/errors.ts';
import { createConnection, ensureRedis, freePort, managedRedisStatus, stopManagedRedis } from '../src/queue/redis.ts';
import { startRedisServer } from './helpers/redis.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'bin', 'chancery.js');
const homes: string[] = [];

function tempHome(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-home-'));
  homes.push(dir);
  return dir;
}

/** Alive and not a zombie: the way `ps` would show it running. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const home of homes) {
    await stopManagedRedis(loadConfig({ CHANCERY_HOME: home })).catch(() => {});
    fs.rmSync(home, { recursive: true, force: true });
  }
});

describe('managed redis-server', () => {
  it('starts once, is reused while it runs, stops cleanly and keeps its data', async () => {
    const cfg = loadConfig({ CHANCERY_HOME: tempHome() });
    const first = await ensureRedis(cfg);
    expect(first.managed).toBe(true);
    expect(first.started).toBe(true);
    expect(first.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    const status = await managedRedisStatus(cfg);
    expect(status.running).toBe(true);
    expect(fs.readFileSync(path.join(cfg.paths.redis, 'redis.port'), 'utf8').trim()).toBe(String(status.port));

    const conn = createConnection(first);
    await conn.set('chancery:test', 'kept');
    expect((await conn.call('CONFIG', 'GET', 'appendonly')) as string[]).toEqual(['appendonly', 'yes']);
    expect((await conn.call('CONFIG', 'GET', 'maxmemory-policy')) as string[]).toEqual(['maxmemory-policy', 'noeviction']);
    expect((await conn.call('CONFIG', 'GET', 'appendfsync')) as string[]).toEqual(['appendfsync', 'everysec']);
    expect((await conn.call('CONFIG', 'GET', 'bind')) as string[]).toEqual(['bind', '127.0.0.1']);
    await conn.quit();

    const second = await ensureRedis(cfg);
    expect(second.url).toBe(first.url);
    expect(second.started).toBe(false);
    expect((await managedRedisStatus(cfg)).pid).toBe(status.pid);

    expect(await stopManagedRedis(cfg)).toBe(true);
    expect(running(status.pid!)).toBe(false);
    expect((await managedRedisStatus(cfg)).running).toBe(false);
    expect(await stopManagedRedis(cfg)).toBe(false);

    // Started again from the same folder: the append-only file brings the data back.
    const third = await ensureRedis(cfg);
    const again = createConnection(third);
    expect(await again.get('chancery:test')).toBe('kept');
    await again.quit();
    await third.stop();
    expect((await managedRedisStatus(cfg)).running).toBe(false);
  });

  it('two processes starting at the same time share one server', async () => {
    const home = tempHome();
    const env: NodeJS.ProcessEnv = { ...process.env, CHANCERY_HOME: home };
    delete env.REDIS_URL;
    // Two separate Node processes racing to start the managed server of the same folder.
    const script = path.join(home, 'start.mts');
    fs.writeFileSync(
      script,
      `import { loadConfig } from ${JSON.stringify(path.join(root, 'src/config.ts'))};\n` +
        `import { ensureRedis } from ${JSON.stringify(path.join(root, 'src/queue/redis.ts'))};\n` +
        `const h = await ensureRedis(loadConfig());\nconsole.log(JSON.stringify({ url: h.url, started: h.started }));\n`,
    );
    const start = () => run(process.execPath, ['--import', 'tsx', script], { env, cwd: root }).then((r) => JSON.parse(r.stdout) as { url: string; started: boolean });
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(b.url).toBe(a.url);
    expect([a.started, b.started].filter(Boolean)).toHaveLength(1);

    // `chancery redis status|stop` see and stop that server.
    const status = await run(process.execPath, [cli, 'redis', 'status', '--json'], { env, cwd: root });
    expect(JSON.parse(status.stdout)).toMatchObject({ managed: true, running: true, url: a.url });
    const stop = await run(process.execPath, [cli, 'redis', 'stop'], { env, cwd: root });
    expect(stop.stdout).toContain('managed redis-server stopped');
    expect((await managedRedisStatus(loadConfig({ CHANCERY_HOME: home }))).running).toBe(false);
  });

  it('takes over a stale lock and never reuses a Redis that is not its own', async () => {
    const other = await startRedisServer();
    const cfg = loadConfig({ CHANCERY_HOME: tempHome() });
    try {
      fs.mkdirSync(cfg.paths.redis, { recursive: true });
      // A crashed starter (its pid no longer runs) left its lock; a port file points to another server.
      fs.writeFileSync(path.join(cfg.paths.redis, 'start.lock'), `${spawnSync('true').pid}\n`);
      fs.writeFileSync(path.join(cfg.paths.redis, 'redis.port'), `${other.port}\n`);
      const handle = await ensureRedis(cfg);
      expect(handle.started).toBe(true);
      expect(handle.url).not.toBe(other.url);
      expect(fs.existsSync(path.join(cfg.paths.redis, 'start.lock'))).toBe(false);
      await handle.stop();
    } finally {
      await other.stop();
    }
  });

  it('without redis-server installed the command exits 3 naming the package', async () => {
    const emptyBin = tempHome(); // a PATH with no redis-server in it
    const env: NodeJS.ProcessEnv = { ...process.env, CHANCERY_HOME: tempHome(), PATH: emptyBin };
    delete env.REDIS_URL;
    const err = await run(process.execPath, [cli, 'redis', 'start'], { env, cwd: root }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(3);
    expect(err?.stderr).toContain('apt-get install redis-server');
  });
});

describe('given Redis (REDIS_URL)', () => {
  it('is used as it is and nothing is started or stopped', async () => {
    const server = await startRedisServer();
    try {
      const cfg = loadConfig({ CHANCERY_HOME: tempHome(), REDIS_URL: server.url });
      const handle = await ensureRedis(cfg);
      expect(handle).toMatchObject({ url: server.url, managed: false });
      expect(handle.connectionOptions).toMatchObject({ host: '127.0.0.1', port: server.port });
      expect(fs.existsSync(cfg.paths.redis)).toBe(false);
      await handle.stop();
      const conn = createConnection(handle);
      expect(await conn.ping()).toBe('PONG');
      await conn.quit();
    } finally {
      await server.stop();
    }
  });

  it('an unreachable REDIS_URL is an infrastructure error', async () => {
    const port = await freePort(); // nobody listens there
    const cfg = loadConfig({ CHANCERY_HOME: tempHome(), REDIS_URL: `redis://:secret@127.0.0.1:${port}` });
    const err = await ensureRedis(cfg).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfrastructureError);
    expect((err as Error).message).toMatch(/unreachable.*ECONNREFUSED/);
    expect((err as Error).message).not.toContain('secret');
  });

  it('worker connections wait for Redis, producer connections fail fast', async () => {
    const server = await startRedisServer();
    try {
      const handle = await ensureRedis(loadConfig({ CHANCERY_HOME: tempHome(), REDIS_URL: server.url }));
      const worker = createConnection(handle, { forWorker: true });
      const producer = createConnection(handle);
      expect((worker as Redis).options.maxRetriesPerRequest).toBeNull();
      expect((producer as Redis).options.maxRetriesPerRequest).toBe(1);
      await Promise.all([worker.quit(), producer.quit()]);
    } finally {
      await server.stop();
    }
  });
});

describe('test helper startRedisServer', () => {
  it('restart keeps the data (append-only file) and the port', async () => {
    const server = await startRedisServer();
    try {
      const handle = await ensureRedis(loadConfig({ CHANCERY_HOME: tempHome(), REDIS_URL: server.url }));
      let conn = createConnection(handle);
      await conn.set('k', 'v');
      await conn.quit();
      await server.restart();
      conn = createConnection(handle);
      expect(await conn.get('k')).toBe('v');
      await conn.quit();
    } finally {
      await server.stop();
    }
    expect(fs.existsSync(server.dir)).toBe(false);
  });
});
