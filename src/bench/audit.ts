/**
 * Audit export benchmark: n valid chained events generated into a store (src/audit/bench.ts
 * generateEvents): a fresh SQLite file, or the PostgreSQL database given; then exported as CSV and
 * as JSON Lines, each export in a fresh process so its peak RSS is the export's alone
 * (measureExport). Run as a script, this file is that process; the store's location reaches it in
 * the environment, not in its arguments, as a PostgreSQL URL holds a password.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDb } from '../store/db.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export type AuditExportFigure = { format: 'csv' | 'jsonl'; events: number; seconds: number; eventsPerSecond: number; peakRssMb: number; bytes: number };
export type AuditBench = { events: number; generateSeconds: number; exports: AuditExportFigure[] } | { pending: string };

type Measure = { events: number; seconds: number; eventsPerSecond: number; peakRssMb: number };

function exportInChild(location: string, format: 'csv' | 'jsonl', out: string): Promise<Measure> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, CHANCERY_BENCH_STORE: location };
    execFile(process.execPath, ['--import', 'tsx', fileURLPath(), 'export', format, out], { cwd: ROOT, env, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`audit export (${format}) failed: ${stderr.trim().split('\n').slice(-2).join(' | ') || err.message}`));
      resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Measure);
    });
  });
}

function fileURLPath(): string {
  return path.join(ROOT, 'src', 'bench', 'audit.ts');
}

/** n events into `databaseUrl` (PostgreSQL), or into a fresh SQLite file when it is unset. */
export async function benchAudit(n: number, log: (s: string) => void = () => {}, databaseUrl?: string): Promise<AuditBench> {
  let generateEvents: ((db: Awaited<ReturnType<typeof openDb>>, n: number) => Promise<unknown>) | undefined;
  try {
    ({ generateEvents } = await import('../audit/bench.ts'));
  } catch {
    return { pending: 'pending audit: src/audit/bench.ts (generateEvents, measureExport) is not there yet' };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-bench-audit-'));
  try {
    const location = databaseUrl ?? path.join(dir, 'chancery.db');
    const db = await openDb(location);
    const t0 = performance.now();
    await generateEvents(db, n);
    const generateSeconds = (performance.now() - t0) / 1000;
    await db.destroy();
    log(`audit: ${n} events generated in ${generateSeconds.toFixed(1)} s`);
    const exports: AuditExportFigure[] = [];
    for (const format of ['csv', 'jsonl'] as const) {
      const out = path.join(dir, `events.${format}`);
      const m = await exportInChild(location, format, out);
      exports.push({ format, events: m.events, seconds: m.seconds, eventsPerSecond: m.eventsPerSecond, peakRssMb: m.peakRssMb, bytes: fs.statSync(out).size });
      fs.rmSync(out, { force: true });
      log(`audit: ${format} export ${m.eventsPerSecond} events/s, peak RSS ${m.peakRssMb} MB`);
    }
    return { events: n, generateSeconds: Math.round(generateSeconds * 100) / 100, exports };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// As a script: `CHANCERY_BENCH_STORE=LOCATION audit.ts export FORMAT OUT` measures one export in this fresh process.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href && process.argv[2] === 'export') {
  const [format, out] = process.argv.slice(3) as ['csv' | 'jsonl', string];
  const { measureExport } = await import('../audit/bench.ts');
  const db = await openDb(process.env.CHANCERY_BENCH_STORE!);
  const m = await measureExport(db, format, out);
  await db.destroy();
  process.stdout.write(`${JSON.stringify(m)}\n`);
}
