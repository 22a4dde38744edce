import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../src/bench/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-bench-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The bench starts its own PostgreSQL cluster unless DATABASE_URL is set: not in this test.
    const env = { ...process.env, DATABASE_URL: '' };
    execFile(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), ...args], { cwd: ROOT, env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Every number under `value`, with its path, so a missing or zero figure is named. */
function numbers(value: unknown, at = ''): [string, number][] {
  if (typeof value === 'number') return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => numbers(v, `${at}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => numbers(v, at ? `${at}.${k}` : k));
  return [];
}

describe('chancery bench --quick --store both (tiny run)', () => {
  it('writes every figure on both stores and every message of every campaign is accepted once and recorded', async () => {
    const out = path.join(dir, 'results.json');
    const r = await run(['bench', '--quick', '--store', 'both', '--recipients', '50', '--sizes', '50', '--audit-events', '2000', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Rendering cu-2009-92.fr');
    expect(r.stdout).toContain('Campaign end to end');
    expect(r.stdout).toMatch(/PostgreSQL at least 80% of SQLite's dispatches\/s .*judged at 10,000 only/);
    const results = JSON.parse(fs.readFileSync(out, 'utf8')) as BenchResults;
    expect(results.options.stores).toEqual(['sqlite', 'postgres']);

    for (const name of ['chancery', 'pdfkitNaive', 'pdfkitTimes'] as const) {
      const f = results.render.renderers[name];
      for (const [key, v] of numbers(f)) expect(v, `render.${name}.${key}`).toBeGreaterThan(0);
      expect(f.pages.min, name).toBeGreaterThanOrEqual(2);
    }
    for (const [key, v] of numbers(results.render.ratios)) expect(v, key).toBeGreaterThan(0);

    for (const store of ['sqlite', 'postgres'] as const) {
      const sc = results.campaign[store]!;
      expect(sc, store).toBeDefined();
      for (const [label, c] of Object.entries(sc)) {
        const at = `${store}.${label}`;
        expect(c.recipients).toBe(50);
        for (const key of ['dispatchesPerSecond', 'seconds'] as const) expect(c[key], `${at}.${key}`).toBeGreaterThan(0);
        for (const [key, v] of numbers(c.latencyMs)) expect(v, `${at}.latencyMs.${key}`).toBeGreaterThan(0);
        for (const [key, v] of numbers(c.peakRssMb)) expect(v, `${at}.peakRssMb.${key}`).toBeGreaterThan(0);
        expect(c.allAccepted, at).toBe(true);
        expect(c.duplicates, at).toBe(0);
        expect(c.auditVerified, at).toBe(true);
        for (const s of c.samples) {
          expect(s.accepted, at).toBe(50);
          expect(s.distinctAccepted, at).toBe(50);
          expect(s.sentInStore, at).toBe(50);
          expect(s.failedInStore, at).toBe(0);
          expect(s.processes.filter((p) => p.role === 'render')).toHaveLength(s.renderWorkers);
        }
      }
      expect(sc.oneRenderWorker.renderWorkers).toBe(1);
      expect(sc.twoRenderWorkers.renderWorkers).toBe(2);

      const memory = results.memory[store]!;
      expect(memory.sizes.map((m) => m.recipients)).toEqual([50]);
      expect(memory.sizes.map((m) => m.renderWorkers)).toEqual([1]);
      expect(memory.sizes.every((m) => m.allAccepted), store).toBe(true);
      for (const [key, v] of numbers(memory.sizes)) expect(v, `${store}.memory.${key}`).toBeGreaterThan(0);

      const audit = results.audit[store]!;
      expect('pending' in audit, store).toBe(false);
      if (!('pending' in audit)) {
        expect(audit.events).toBe(2000);
        expect(audit.exports.map((e) => e.format)).toEqual(['csv', 'jsonl']);
        for (const e of audit.exports) {
          expect(e.events, `${store}.audit.${e.format}`).toBe(2000);
          for (const [key, v] of numbers(e)) expect(v, `${store}.audit.${e.format}.${key}`).toBeGreaterThan(0);
        }
      }
    }

    // Both stores side by side in the same run; the 80% target is judged at 10,000 only.
    const cmp = results.targets.postgresVsSqlite!;
    expect(cmp.recipients).toBe(50);
    expect(cmp.sqlite).toBe(results.memory.sqlite!.sizes[0]!.dispatchesPerSecond);
    expect(cmp.postgres).toBe(results.memory.postgres!.sizes[0]!.dispatchesPerSecond);
    expect(cmp.allAccepted).toBe(true);
    expect(cmp.atLeast80Percent).toBeUndefined();
  }, 600_000);

  it('refuses an unknown store as wrong usage (exit 2), naming the option', async () => {
    const r = await run(['bench', '--quick', '--store', 'mysql', '--out', path.join(dir, 'never.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--store: "mysql" is not sqlite, postgres or both');
    expect(fs.existsSync(path.join(dir, 'never.json'))).toBe(false);
  });
});
