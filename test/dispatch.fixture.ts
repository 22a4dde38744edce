import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, type Config } from '../src/config.ts';
import { freshStoreEnv } from './helpers/engines.ts';
import { startSmtpServer, type Respond, type TestSmtpServer } from './helpers/smtp.ts';

/** Shared set-up of the dispatch tests: a temp CHANCERY_HOME, env for CLI subprocesses, waits. */

const ROOT = path.resolve(import.meta.dirname, '..');

export type DispatchEnv = { home: string; env: NodeJS.ProcessEnv; cfg: Config; smtp: TestSmtpServer; cleanup(): Promise<void> };

export async function dispatchEnv(redisUrl: string, opts: { respond?: Respond; respondAt?: 'rcpt' | 'data'; templates?: string; extra?: Record<string, string> } = {}): Promise<DispatchEnv> {
  const smtp = await startSmtpServer({ respond: opts.respond, respondAt: opts.respondAt });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-dispatch-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CHANCERY_HOME: home,
    CHANCERY_TEMPLATES: opts.templates ?? path.join(ROOT, 'templates'),
    CHANCERY_REGISTRY: path.join(ROOT, 'seeds', 'registry.json'),
    REDIS_URL: redisUrl,
    SMTP_URL: smtp.url,
    SEND_BACKOFF_MS: '100',
    SEND_ATTEMPTS: '6',
    SEND_CONCURRENCY: '8',
    RENDER_CONCURRENCY: '4',
    WORKER_LOCK_MS: '2000',
    // This run's engine: the SQLite file under the home, or a fresh PostgreSQL database.
    ...(await freshStoreEnv()),
    ...opts.extra,
  };
  return {
    home,
    env,
    cfg: loadConfig(env),
    smtp,
    async cleanup() {
      await smtp.stop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

export type CliResult = { code: number; stdout: string; stderr: string };

/** `chancery ARGS` as a user runs it, in a subprocess. */
export function cli(env: NodeJS.ProcessEnv, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), ...args], { env, cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running `chancery worker` subprocess; resolves once it says it is ready. */
export async function startWorkerProcess(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), 'worker', ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await until(() => /ready:/.test(out) || child.exitCode !== null, 30_000, () => `worker did not start: ${out}`);
  if (child.exitCode !== null) throw new Error(`worker exited: ${out}`);
  return { child, output: () => out, exited };
}

/** Waits for a condition (polling); fails with a message after a generous deadline. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 60_000, what: () => string = () => 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await sleep(50);
  }
}

/** The last line of a command's output: `campaign create` prints the id there. */
export function lastLine(s: string): string {
  return s.trim().split('\n').at(-1)!.trim();
}
