/**
 * `chancery bench`: every figure measured in the same run on this machine, printed as a table and
 * written as JSON. Rendering (Chancery against two plain-pdfkit baselines), a whole campaign end to
 * end with one and with two render worker processes, memory against campaign size, and the audit
 * export. The campaign and audit sections run on each store chosen (SQLite, PostgreSQL), the stores
 * taking turns run by run, as the machine's speed drifts within minutes. Medians over repeated runs;
 * the machine's load average is recorded with the figures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseRegistryFile, type Recipient } from '../registry/index.ts';
import { loadTemplate } from '../templates/index.ts';
import { benchAudit, type AuditBench } from './audit.ts';
import { benchCampaign, type CampaignRun, type ProcessFigure } from './campaign.ts';
import { benchRender, round, type RenderBench } from './render.ts';
import { median } from './stats.ts';
import { openBenchStores, type BenchStore } from './stores.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/**
 * Render worker processes of the campaign-size runs (memory, and the 10,000 figure of the default
 * bench): one, beside the send worker, on a 2-core machine. A second render process costs more CPU
 * per letter than it adds (render workers 3.1-3.4 ms of CPU a letter with two, 2.5-2.7 with one, in
 * runs alternating the two at 10,000: 264 / 250 / 254 against 275 / 290 / 285 dispatches/s); the
 * end-to-end section still measures both.
 */
const SIZE_RENDER_WORKERS = 1;

export type BenchOptions = {
  recipients: number;
  out: string;
  quick: boolean;
  /** Repeats of each measurement (default: render 5, campaign 3 up to 2,000 recipients, else 1; quick: 1). */
  runs?: number;
  /** Campaign sizes for the memory figures (default 1,000 and 10,000; quick: 1,000). */
  sizes?: number[];
  /** Events for the audit export (default 1,000,000; quick: 20,000). */
  auditEvents?: number;
  /** Write V8 CPU profiles of the worker processes to this folder. */
  profileDir?: string;
  /** Stores the campaign and audit sections run on (default both). */
  stores?: BenchStore[];
  /** PostgreSQL to use instead of a private cluster (the caller's DATABASE_URL). */
  databaseUrl?: string;
  log?: (line: string) => void;
};

export type CampaignSummary = {
  recipients: number;
  renderWorkers: number;
  runs: number;
  /** Medians over the runs. */
  dispatchesPerSecond: number;
  seconds: number;
  latencyMs: { p50: number; p95: number };
  /** Highest peak RSS seen per role over the runs (MB). */
  peakRssMb: Record<ProcessFigure['role'], number>;
  /** Every message accepted by the SMTP server exactly once and recorded sent, audit chain intact, in every run. */
  allAccepted: boolean;
  duplicates: number;
  auditVerified: boolean;
  samples: CampaignRun[];
};

/**
 * One campaign size: peak RSS per role, the highest over the runs; dispatches/s, the median of the
 * runs (each size is run `runs` times: single runs at 10,000 moved by 15% minutes apart).
 */
export type MemoryFigure = {
  recipients: number;
  renderWorkers: number;
  runs: number;
  peakRssMb: Record<ProcessFigure['role'], number>;
  dispatchesPerSecond: number;
  dispatchesPerSecondRuns: number[];
  /** Every message accepted once and recorded sent, in every run. */
  allAccepted: boolean;
};

export type StoreCampaign = { oneRenderWorker: CampaignSummary; twoRenderWorkers: CampaignSummary };
/** Peak RSS at 10,000 over 1,000 recipients, minus 1, per worker role. */
export type StoreMemory = { sizes: MemoryFigure[]; renderWorkerGrowth?: number; sendWorkerGrowth?: number };

/**
 * PostgreSQL's dispatches/s over SQLite's in the same run, at the largest campaign size both ran
 * (medians of the one-render-worker runs); the target (at least 0.8, every message accepted once
 * and recorded on both) is judged at 10,000 recipients only.
 */
export type StoreComparison = { recipients: number; sqlite: number; postgres: number; ratio: number; allAccepted: boolean; atLeast80Percent?: boolean };

export type BenchResults = {
  date: string;
  machine: { cpus: number; model: string; memoryGb: number; node: string; platform: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  options: { recipients: number; quick: boolean; runs: { render: number; campaign: number }; sizes: number[]; auditEvents: number; stores: BenchStore[] };
  render: RenderBench;
  /** Per store, in the order run. */
  campaign: Partial<Record<BenchStore, StoreCampaign>>;
  memory: Partial<Record<BenchStore, StoreMemory>>;
  audit: Partial<Record<BenchStore, AuditBench>>;
  targets: {
    renderAtLeastAsFastAsTimesFloor: boolean;
    /** Per store: the best median at 10,000 recipients, and whether it reaches 250/s. */
    dispatchesPerSecondAt10000?: Partial<Record<BenchStore, number>>;
    endToEnd250At10000?: Partial<Record<BenchStore, boolean>>;
    workerRssWithin20Percent?: Partial<Record<BenchStore, boolean>>;
    postgresVsSqlite?: StoreComparison;
  };
};

const allAccepted = (runs: CampaignRun[]) => runs.every((r) => r.accepted === r.recipients && r.distinctAccepted === r.recipients && r.sentInStore === r.recipients);

/** The campaign-size section of one store, from its runs at each size. */
function memorySection(runsBySize: CampaignRun[][]): StoreMemory {
  const sizes: MemoryFigure[] = runsBySize.map((runs) => {
    const peak = (role: ProcessFigure['role']) => Math.max(...runs.flatMap((run) => run.processes.filter((p) => p.role === role).map((p) => p.peakRssMb)));
    const rates = runs.map((run) => run.dispatchesPerSecond);
    return {
      recipients: runs[0]!.recipients,
      renderWorkers: SIZE_RENDER_WORKERS,
      runs: runs.length,
      peakRssMb: { render: peak('render'), send: peak('send'), coordinator: peak('coordinator') },
      dispatchesPerSecond: round(median(rates), 1),
      dispatchesPerSecondRuns: rates,
      allAccepted: allAccepted(runs) && runs.every((r) => r.duplicates === 0),
    };
  });
  const small = sizes.find((m) => m.recipients === 1000);
  const large = sizes.find((m) => m.recipients === 10_000);
  if (!small || !large) return { sizes };
  return { sizes, renderWorkerGrowth: round(large.peakRssMb.render / small.peakRssMb.render - 1, 3), sendWorkerGrowth: round(large.peakRssMb.send / small.peakRssMb.send - 1, 3) };
}

/** PostgreSQL against SQLite at the largest campaign size both ran, when both ran. */
function compareStores(memory: BenchResults['memory']): StoreComparison | undefined {
  const { sqlite, postgres } = memory;
  if (!sqlite || !postgres) return undefined;
  const a = [...sqlite.sizes].sort((x, y) => y.recipients - x.recipients).find((s) => postgres.sizes.some((p) => p.recipients === s.recipients));
  const b = a && postgres.sizes.find((p) => p.recipients === a.recipients);
  if (!a || !b) return undefined;
  const ratio = round(b.dispatchesPerSecond / a.dispatchesPerSecond, 3);
  const both = a.allAccepted && b.allAccepted;
  return { recipients: a.recipients, sqlite: a.dispatchesPerSecond, postgres: b.dispatchesPerSecond, ratio, allAccepted: both, ...(a.recipients >= 10_000 ? { atLeast80Percent: ratio >= 0.8 && both } : {}) };
}

function summarize(runs: CampaignRun[]): CampaignSummary {
  const first = runs[0]!;
  const peak = (role: ProcessFigure['role']) => Math.max(...runs.flatMap((r) => r.processes.filter((p) => p.role === role).map((p) => p.peakRssMb)));
  return {
    recipients: first.recipients,
    renderWorkers: first.renderWorkers,
    runs: runs.length,
    dispatchesPerSecond: round(median(runs.map((r) => r.dispatchesPerSecond)), 1),
    seconds: round(median(runs.map((r) => r.seconds))),
    latencyMs: { p50: Math.round(median(runs.map((r) => r.latencyMs.p50))), p95: Math.round(median(runs.map((r) => r.latencyMs.p95))) },
    peakRssMb: { render: peak('render'), send: peak('send'), coordinator: peak('coordinator') },
    allAccepted: allAccepted(runs),
    duplicates: runs.reduce((s, r) => s + r.duplicates, 0),
    auditVerified: runs.every((r) => r.audit.verified),
    samples: runs,
  };
}

export async function runBench(opts: BenchOptions): Promise<BenchResults> {
  const log = opts.log ?? (() => {});
  const loadAtStart = os.loadavg().map((v) => round(v));
  const templatesDir = path.join(ROOT, 'templates');
  const seeds: Recipient[] = await parseRegistryFile(path.join(ROOT, 'seeds', 'registry.json'));
  const template = await loadTemplate(templatesDir, 'cu-2009-92', 'fr');
  const renderRuns = opts.runs ?? (opts.quick ? 1 : 5);
  const campaignRuns = opts.runs ?? (opts.quick || opts.recipients > 2000 ? 1 : 3);
  const sizes = opts.sizes ?? (opts.quick ? [1000] : [1000, 10_000]);
  const sizeRuns = opts.runs ?? (opts.quick ? 1 : 3);
  const auditEvents = opts.auditEvents ?? (opts.quick ? 20_000 : 1_000_000);

  log(`render: ${template.meta.reference} for ${seeds.length} recipients, ${renderRuns} run(s)`);
  const render = await benchRender(template, seeds, { runs: renderRuns, naiveDocs: opts.quick ? 5 : 48, log });

  const storeNames = opts.stores ?? (['sqlite', 'postgres'] as BenchStore[]);
  const stores = await openBenchStores(storeNames, opts.databaseUrl, log);
  const campaign: BenchResults['campaign'] = {};
  const memory: BenchResults['memory'] = {};
  const audit: BenchResults['audit'] = {};
  try {
    const runCampaign = async (store: BenchStore, recipients: number, renderWorkers: number) => {
      log(`campaign on ${store}: ${recipients} recipients, ${renderWorkers} render worker(s)`);
      const databaseUrl = await stores.location(store);
      return benchCampaign({ recipients, renderWorkers, seeds, templatesDir, databaseUrl, profileDir: opts.profileDir, log: (s) => log(`  ${s}`) });
    };
    // The loop over the stores is inside each repeat: the stores take turns, run by run.
    const one = new Map<BenchStore, CampaignRun[]>(storeNames.map((s) => [s, []]));
    const two = new Map<BenchStore, CampaignRun[]>(storeNames.map((s) => [s, []]));
    for (let i = 0; i < campaignRuns; i++) {
      for (const store of storeNames) {
        one.get(store)!.push(await runCampaign(store, opts.recipients, 1));
        two.get(store)!.push(await runCampaign(store, opts.recipients, 2));
      }
    }
    for (const store of storeNames) campaign[store] = { oneRenderWorker: summarize(one.get(store)!), twoRenderWorkers: summarize(two.get(store)!) };

    for (const store of storeNames) memory[store] = { sizes: [] };
    const bySize = new Map<BenchStore, CampaignRun[][]>(storeNames.map((s) => [s, []]));
    for (const size of sizes) {
      const runs = new Map<BenchStore, CampaignRun[]>(storeNames.map((s) => [s, size === opts.recipients ? [...one.get(s)!] : []]));
      while (runs.get(storeNames[0]!)!.length < sizeRuns) {
        for (const store of storeNames) runs.get(store)!.push(await runCampaign(store, size, SIZE_RENDER_WORKERS));
      }
      for (const store of storeNames) bySize.get(store)!.push(runs.get(store)!);
    }
    for (const store of storeNames) memory[store] = memorySection(bySize.get(store)!);

    for (const store of storeNames) {
      log(`audit on ${store}: ${auditEvents} events`);
      audit[store] = await benchAudit(auditEvents, log, await stores.location(store));
    }
  } finally {
    await stores.stop();
  }

  const targets: BenchResults['targets'] = { renderAtLeastAsFastAsTimesFloor: render.renderers.chancery.msPerDoc <= render.renderers.pdfkitTimes.msPerDoc };
  for (const store of storeNames) {
    const c = campaign[store]!;
    const m = memory[store]!;
    const large = m.sizes.find((f) => f.recipients === 10_000);
    const at10k = [...(opts.recipients === 10_000 ? [c.oneRenderWorker.dispatchesPerSecond, c.twoRenderWorkers.dispatchesPerSecond] : []), ...(large ? [large.dispatchesPerSecond] : [])];
    if (at10k.length > 0) {
      const best = Math.max(...at10k);
      (targets.dispatchesPerSecondAt10000 ??= {})[store] = best;
      (targets.endToEnd250At10000 ??= {})[store] = best >= 250;
    }
    if (m.renderWorkerGrowth !== undefined && m.sendWorkerGrowth !== undefined) {
      (targets.workerRssWithin20Percent ??= {})[store] = Math.abs(m.renderWorkerGrowth) <= 0.2 && Math.abs(m.sendWorkerGrowth) <= 0.2;
    }
  }
  const compared = compareStores(memory);
  if (compared) targets.postgresVsSqlite = compared;

  const cpu = os.cpus();
  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: { cpus: cpu.length, model: cpu[0]?.model ?? 'unknown', memoryGb: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.platform()} ${os.release()}`, loadAverageAtStart: loadAtStart, loadAverageAtEnd: os.loadavg().map((v) => round(v)) },
    options: { recipients: opts.recipients, quick: opts.quick, runs: { render: renderRuns, campaign: campaignRuns }, sizes, auditEvents, stores: storeNames },
    render,
    campaign,
    memory,
    audit,
    targets,
  };
  fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
  fs.writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
  return results;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

/** The results as the table printed by `chancery bench`. */
export function formatResults(r: BenchResults): string {
  const rr = r.render.renderers;
  const stores = r.options.stores;
  const out: string[] = [];
  out.push(`chancery bench — ${r.date.slice(0, 10)}, ${r.machine.cpus} cores (${r.machine.model}), Node ${r.machine.node}; load average ${r.machine.loadAverageAtStart.join(' ')} at start, ${r.machine.loadAverageAtEnd.join(' ')} at end`);
  out.push('');
  out.push(`Rendering ${r.render.note}, distinct recipients, medians of ${rr.chancery.runs} run(s):`);
  out.push(
    table([
      ['renderer', 'docs/run', 'ms/doc', 'CPU ms/doc', 'docs/s/core', 'pages', 'KB/doc'],
      ...(
        [
          ['Chancery (embedded Noto Serif)', rr.chancery],
          ['pdfkit, Noto Serif from file per doc', rr.pdfkitNaive],
          ['pdfkit, built-in Times (floor)', rr.pdfkitTimes],
        ] as const
      ).map(([name, f]) => [name, String(f.docsPerRun), f.msPerDoc.toFixed(2), f.cpuMsPerDoc.toFixed(2), f.docsPerSecondPerCore.toFixed(1), `${f.pages.min}-${f.pages.max}`, (f.bytesPerDoc / 1024).toFixed(1)]),
    ]),
  );
  out.push(`ratios: naive / Chancery ${r.render.ratios.naiveOverChancery}x, Times floor / Chancery ${r.render.ratios.timesOverChancery}x, naive / Times ${r.render.ratios.naiveOverTimes}x`);
  out.push('');
  const campaigns = stores.map((store) => [store, r.campaign[store]!] as const);
  out.push(`Campaign end to end (enqueue, render, SMTP on loopback, record, audit), the stores taking turns, medians of ${campaigns[0]?.[1].oneRenderWorker.runs ?? 0} run(s):`);
  out.push(
    table([
      ['store', 'render workers', 'recipients', 'dispatches/s', 'seconds', 'p50 ms', 'p95 ms', 'render RSS MB', 'send RSS MB', 'coord. RSS MB', 'all accepted', 'audit ok'],
      ...campaigns.flatMap(([store, sc]) =>
        [sc.oneRenderWorker, sc.twoRenderWorkers].map((c) => [store, String(c.renderWorkers), String(c.recipients), c.dispatchesPerSecond.toFixed(1), c.seconds.toFixed(1), String(c.latencyMs.p50), String(c.latencyMs.p95), String(c.peakRssMb.render), String(c.peakRssMb.send), String(c.peakRssMb.coordinator), c.allAccepted && c.duplicates === 0 ? 'yes' : 'NO', c.auditVerified ? 'yes' : 'NO']),
      ),
    ]),
  );
  out.push('');
  const first = r.memory[stores[0]!]?.sizes[0];
  out.push(`Campaign size (${first?.renderWorkers ?? SIZE_RENDER_WORKERS} render worker(s) and a send worker), ${first?.runs ?? 1} run(s) each: highest peak RSS MB, median dispatches/s:`);
  out.push(
    table([
      ['store', 'recipients', 'render worker', 'send worker', 'coordinator', 'dispatches/s', 'each run', 'all accepted'],
      ...stores.flatMap((store) =>
        r.memory[store]!.sizes.map((m) => [store, String(m.recipients), String(m.peakRssMb.render), String(m.peakRssMb.send), String(m.peakRssMb.coordinator), m.dispatchesPerSecond.toFixed(1), m.dispatchesPerSecondRuns.map((v) => v.toFixed(1)).join(' '), m.allAccepted ? 'yes' : 'NO']),
      ),
    ]),
  );
  for (const store of stores) {
    const m = r.memory[store]!;
    if (m.renderWorkerGrowth !== undefined) out.push(`${store}: render worker peak RSS, 10,000 vs 1,000 recipients: ${(m.renderWorkerGrowth * 100).toFixed(1)}%`);
    if (m.sendWorkerGrowth !== undefined) out.push(`${store}: send worker peak RSS, 10,000 vs 1,000 recipients: ${(m.sendWorkerGrowth * 100).toFixed(1)}%`);
  }
  out.push('');
  const audits = stores.map((store) => [store, r.audit[store]!] as const);
  for (const [store, a] of audits) if ('pending' in a) out.push(`Audit export on ${store}: ${a.pending}`);
  const done = audits.flatMap(([store, a]) => ('pending' in a ? [] : [[store, a] as const]));
  if (done.length > 0) {
    out.push(`Audit export of ${r.options.auditEvents.toLocaleString('en')} events, each export in a fresh process:`);
    out.push(
      table([
        ['store', 'format', 'generated in s', 'events/s', 'seconds', 'peak RSS MB', 'MB written'],
        ...done.flatMap(([store, a]) => a.exports.map((e) => [store, e.format, String(a.generateSeconds), String(e.eventsPerSecond), e.seconds.toFixed(2), String(e.peakRssMb), (e.bytes / 2 ** 20).toFixed(1)])),
      ]),
    );
  }
  out.push('');
  const t = r.targets;
  const perStore = (v: Partial<Record<BenchStore, boolean>>, figures?: Partial<Record<BenchStore, number>>) =>
    stores.map((s) => `${s} ${v[s] ? 'met' : 'NOT met'}${figures?.[s] !== undefined ? ` (${figures[s]}/s)` : ''}`).join(', ');
  out.push(`Targets: render at least as fast as the Times floor: ${t.renderAtLeastAsFastAsTimesFloor ? 'met' : 'NOT met'}`);
  if (t.endToEnd250At10000) out.push(`         250 dispatches/s at 10,000 recipients: ${perStore(t.endToEnd250At10000, t.dispatchesPerSecondAt10000)}`);
  if (t.workerRssWithin20Percent) out.push(`         worker peak RSS within 20% from 1,000 to 10,000: ${perStore(t.workerRssWithin20Percent)}`);
  const pc = t.postgresVsSqlite;
  if (pc) {
    const verdict = pc.atLeast80Percent === undefined ? 'judged at 10,000 only' : pc.atLeast80Percent ? 'met' : 'NOT met';
    out.push(`         PostgreSQL at least 80% of SQLite's dispatches/s at 10,000, all accepted once: ${verdict} (${pc.recipients.toLocaleString('en')} recipients: ${pc.postgres} / ${pc.sqlite} = ${(pc.ratio * 100).toFixed(1)}%, all accepted: ${pc.allAccepted ? 'yes' : 'NO'})`);
  }
  return `${out.join('\n')}\n`;
}
