import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerCommands } from '../src/cli/commands.ts';

/**
 * `chancery ARGS` run in this process (same commands, same action wrapper, same exit statuses),
 * so a table of hostile inputs costs milliseconds each instead of a tsx start-up. One test
 * (hostile-cli) also runs the real binary to check the same holds end to end.
 */

export const ROOT = path.resolve(import.meta.dirname, '..');

export type Run = { code: number; stdout: string; stderr: string };

export async function chancery(env: Record<string, string>, args: string[]): Promise<Run> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  process.stdout.write = ((chunk: string | Uint8Array) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  let code = 0;
  try {
    const program = new Command('chancery').exitOverride().configureOutput({ writeErr: (s) => err.push(s), writeOut: (s) => out.push(s) });
    registerCommands(program);
    await program.parseAsync(['node', 'chancery', ...args]);
    code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    code = e.exitCode === 0 ? 0 : 2;
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    process.exitCode = undefined;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** A temp CHANCERY_HOME with the shipped templates and registry. */
export function hostileHome(): { home: string; env: Record<string, string>; file(name: string, content: string | Buffer): string; cleanup(): void } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-hostile-'));
  return {
    home,
    env: { CHANCERY_HOME: home, CHANCERY_TEMPLATES: path.join(ROOT, 'templates'), CHANCERY_REGISTRY: path.join(ROOT, 'seeds', 'registry.json'), REDIS_URL: 'redis://127.0.0.1:1' },
    file(name, content) {
      const f = path.join(home, name);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, content);
      return f;
    },
    cleanup: () => fs.rmSync(home, { recursive: true, force: true }),
  };
}

/** The figures of the hostile-input suite, for RELIABILITY.md: test-artifacts/hostile-report.json. */
export function recordHostile(section: string, tried: number, rejected: number, importedSafely = 0): void {
  const file = path.join(ROOT, 'test-artifacts', 'hostile-report.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    report = {};
  }
  report[section] = { tried, rejected, importedSafely };
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
