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
    execFile(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), ...args], { cwd: ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
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

describe('chancery bench --quick (tiny run)', () => {
  it('writes every figure and every message of every campaign is accepted once and recorded', async () => {
    const out = path.join(dir, 'results.json');
    const r = await run(['bench', '--quick', '--recipients', '50', '--sizes', '50', '--audit-events', '2000', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Rendering cu-2009-92.fr');
    expect(r.stdout).toContain('Campaign end to end');
    const results = JSON.parse(fs.readFileSync(out, 'utf8')) as BenchResults;

    for (const name of ['chancery', 'pdfkitNaive', 'pdfkitTimes'] as const) {
      const f = results.render.renderers[name];
      for (const [key, v] of numbers(f)) expect(v, `render.${name}.${key}`).toBeGreaterThan(0);
      expect(f.pages.min, name).toBeGreaterThanOrEqual(2);
    }
    for (const [key, v] of numbers(results.render.ratios)) expect(v, key).toBeGreaterThan(0);

    for (const [label, c] of Object.entries(results.campaign)) {
      expect(c.recipients).toBe(50);
      for (const key of ['dispatchesPerSecond', 'seconds'] as const) expect(c[key], `${label}.${key}`).toBeGreaterThan(0);
      for (const [key, v] of numbers(c.latencyMs)) expect(v, `${label}.latencyMs.${key}`).toBeGreaterThan(0);
      for (const [key, v] of numbers(c.peakRssMb)) expect(v, `${label}.peakRssMb.${key}`).toBeGreaterThan(0);
      expect(c.allAccepted, label).toBe(true);
      expect(c.duplicates, label).toBe(0);
      expect(c.auditVerified, label).toBe(true);
      for (const s of c.samples) {
        expect(s.accepted).toBe(50);
        expect(s.distinctAccepted).toBe(50);
        expect(s.sentInStore).toBe(50);
        expect(s.failedInStore).toBe(0);
        expect(s.processes.filter((p) => p.role === 'render')).toHaveLength(s.renderWorkers);
      }
    }
    expect(results.campaign.oneRenderWorker.renderWorkers).toBe(1);
    expect(results.campaign.twoRenderWorkers.renderWorkers).toBe(2);

    expect(results.memory.sizes.map((m) => m.recipients)).toEqual([50]);
    expect(results.memory.sizes.map((m) => m.renderWorkers)).toEqual([1]);
    for (const [key, v] of numbers(results.memory.sizes)) expect(v, `memory.${key}`).toBeGreaterThan(0);

    expect('pending' in results.audit).toBe(false);
    if (!('pending' in results.audit)) {
      expect(results.audit.events).toBe(2000);
      expect(results.audit.exports.map((e) => e.format)).toEqual(['csv', 'jsonl']);
      for (const e of results.audit.exports) {
        expect(e.events).toBe(2000);
        for (const [key, v] of numbers(e)) expect(v, `audit.${e.format}.${key}`).toBeGreaterThan(0);
      }
    }
  }, 300_000);
});
