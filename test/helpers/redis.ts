import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from '../../src/queue/redis.ts';

export type TestRedis = {
  url: string;
  port: number;
  /** The server's data folder (AOF), removed by stop(). */
  dir: string;
  /**
   * SHUTDOWN (AOF flushed), then start again on the same port and folder: the data survives.
   * `whileDown` runs between the two (an outage of the length it takes).
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** SHUTDOWN and remove the data folder. */
  stop(): Promise<void>;
};

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
// A test run that ends abruptly must not leave servers, or their data folders, behind.
process.once('exit', () => {
  children.forEach((c) => c.kill('SIGKILL'));
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

async function ping(port: number): Promise<boolean> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  c.on('error', () => {});
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

/**
 * A real redis-server (foreground child) on a free loopback port with its data in a temp folder.
 * `args`: more options, relative paths in them under that folder (a cluster node's config file).
 */
export async function startRedisServer(args: string[] = []): Promise<TestRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-redis-'));
  dirs.add(dir);
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction', '--logfile', path.join(dir, 'redis.log'), ...args],
      { stdio: 'ignore' },
    );
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    let exited = false;
    proc.once('exit', () => (exited = true));
    const spawnError = new Promise<never>((_, reject) => proc.once('error', reject));
    spawnError.catch(() => {});
    for (let i = 0; i < 200; i++) {
      await Promise.race([sleep(25), spawnError]);
      if (exited) break;
      if (await ping(port)) {
        child = proc;
        return;
      }
    }
    proc.kill('SIGKILL');
    throw new Error(`test redis-server did not start on port ${port}: ${fs.existsSync(path.join(dir, 'redis.log')) ? fs.readFileSync(path.join(dir, 'redis.log'), 'utf8').trim().split('\n').pop() : 'no log'}`);
  };

  const shutdown = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    await c.call('SHUTDOWN').catch(() => {}); // the server closes the connection instead of replying
    if (c.status !== 'end') c.disconnect();
    await Promise.race([gone, sleep(10_000).then(() => proc.kill('SIGKILL'))]);
    await gone;
    child = undefined;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async restart(whileDown) {
      await shutdown();
      await whileDown?.();
      await start();
    },
    async stop() {
      await shutdown();
      fs.rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}
