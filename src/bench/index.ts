/**
 * `chancery bench`: every figure measured in the same run on this machine, printed as a table and
 * written as JSON. Rendering (Chancery against two plain-pdfkit baselines), a whole campaign end to
 * end with one and with two render worker processes, memory against campaign size, and the audit
 * export. Medians over repeated runs; the machine's load average is recorded with the figures.
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
export type MemoryFigure = { recipients: number; renderWorkers: number; runs: number; peakRssMb: Record<ProcessFigure['role'], number>; dispatchesPerSecond: number; dispatchesPerSecondRuns: number[] };

export type BenchResults = {
  date: string;
  machine: { cpus: number; model: string; memoryGb: number; node: string; platform: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  options: { recipients: number; quick: boolean; runs: { render: number; campaign: number }; sizes: number[]; auditEvents: number };
  render: RenderBench;
  campaign: { oneRenderWorker: CampaignSummary; twoRenderWorkers: CampaignSummary };
  /** Peak RSS at 10,000 over 1,000 recipients, minus 1, per worker role. */
  memory: { sizes: MemoryFigure[]; renderWorkerGrowth?: number; sendWorkerGrowth?: number };
  audit: AuditBench;
  targets: { renderAtLeastAsFastAsTimesFloor: boolean; dispatchesPerSecondAt10000?: number; endToEnd250At10000?: boolean; workerRssWithin20Percent?: boolean };
};

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
    allAccepted: runs.every((r) => r.accepted === r.recipients && r.distinctAccepted === r.recipients && r.sentInStore === r.recipients),
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

  const runCampaign = (recipients: number, renderWorkers: number) => {
    log(`campaign: ${recipients} recipients, ${renderWorkers} render worker(s)`);
    return benchCampaign({ recipients, renderWorkers, seeds, templatesDir, profileDir: opts.profileDir, log: (s) => log(`  ${s}`) });
  };
  const one: CampaignRun[] = [];
  const two: CampaignRun[] = [];
  for (let i = 0; i < campaignRuns; i++) {
    one.push(await runCampaign(opts.recipients, 1));
    two.push(await runCampaign(opts.recipients, 2));
  }

  const memory: MemoryFigure[] = [];
  for (const size of sizes) {
    const runs = size === opts.recipients ? [...one] : [];
    while (runs.length < sizeRuns) runs.push(await runCampaign(size, SIZE_RENDER_WORKERS));
    const peak = (role: ProcessFigure['role']) => Math.max(...runs.flatMap((run) => run.processes.filter((p) => p.role === role).map((p) => p.peakRssMb)));
    const rates = runs.map((run) => run.dispatchesPerSecond);
    memory.push({ recipients: size, renderWorkers: SIZE_RENDER_WORKERS, runs: runs.length, peakRssMb: { render: peak('render'), send: peak('send'), coordinator: peak('coordinator') }, dispatchesPerSecond: round(median(rates), 1), dispatchesPerSecondRuns: rates });
  }
  const small = memory.find((m) => m.recipients === 1000);
  const large = memory.find((m) => m.recipients === 10_000);
  const renderWorkerGrowth = small && large ? round(large.peakRssMb.render / small.peakRssMb.render - 1, 3) : undefined;
  const sendWorkerGrowth = small && large ? round(large.peakRssMb.send / small.peakRssMb.send - 1, 3) : undefined;

  log(`audit: ${auditEvents} events`);
  const audit = await benchAudit(auditEvents, log);

  const at10k = [...(opts.recipients === 10_000 ? [summarize(one), summarize(two)].map((s) => s.dispatchesPerSecond) : []), ...(large ? [large.dispatchesPerSecond] : [])];
  const best10k = at10k.length > 0 ? Math.max(...at10k) : undefined;
  const cpu = os.cpus();
  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: { cpus: cpu.length, model: cpu[0]?.model ?? 'unknown', memoryGb: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.platform()} ${os.release()}`, loadAverageAtStart: loadAtStart, loadAverageAtEnd: os.loadavg().map((v) => round(v)) },
    options: { recipients: opts.recipients, quick: opts.quick, runs: { render: renderRuns, campaign: campaignRuns }, sizes, auditEvents },
    render,
    campaign: { oneRenderWorker: summarize(one), twoRenderWorkers: summarize(two) },
    memory: { sizes: memory, ...(renderWorkerGrowth !== undefined ? { renderWorkerGrowth } : {}), ...(sendWorkerGrowth !== undefined ? { sendWorkerGrowth } : {}) },
    audit,
    targets: {
      renderAtLeastAsFastAsTimesFloor: render.renderers.chancery.msPerDoc <= render.renderers.pdfkitTimes.msPerDoc,
      ...(best10k !== undefined ? { dispatchesPerSecondAt10000: best10k, endToEnd250At10000: best10k >= 250 } : {}),
      ...(renderWorkerGrowth !== undefined && sendWorkerGrowth !== undefined ? { workerRssWithin20Percent: Math.abs(renderWorkerGrowth) <= 0.2 && Math.abs(sendWorkerGrowth) <= 0.2 } : {}),
    },
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
  const c1 = r.campaign.oneRenderWorker;
  const c2 = r.campaign.twoRenderWorkers;
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
  out.push(`Campaign end to end (enqueue, render, SMTP on loopback, record, audit), medians of ${c1.runs} run(s):`);
  out.push(
    table([
      ['render workers', 'recipients', 'dispatches/s', 'seconds', 'p50 ms', 'p95 ms', 'render RSS MB', 'send RSS MB', 'coord. RSS MB', 'all accepted', 'audit ok'],
      ...[c1, c2].map((c) => [String(c.renderWorkers), String(c.recipients), c.dispatchesPerSecond.toFixed(1), c.seconds.toFixed(1), String(c.latencyMs.p50), String(c.latencyMs.p95), String(c.peakRssMb.render), String(c.peakRssMb.send), String(c.peakRssMb.coordinator), c.allAccepted && c.duplicates === 0 ? 'yes' : 'NO', c.auditVerified ? 'yes' : 'NO']),
    ]),
  );
  out.push('');
  out.push(`Campaign size (${r.memory.sizes[0]?.renderWorkers ?? SIZE_RENDER_WORKERS} render worker(s) and a send worker), ${r.memory.sizes[0]?.runs ?? 1} run(s) each: highest peak RSS MB, median dispatches/s:`);
  out.push(
    table([
      ['recipients', 'render worker', 'send worker', 'coordinator', 'dispatches/s', 'each run'],
      ...r.memory.sizes.map((m) => [String(m.recipients), String(m.peakRssMb.render), String(m.peakRssMb.send), String(m.peakRssMb.coordinator), m.dispatchesPerSecond.toFixed(1), m.dispatchesPerSecondRuns.map((v) => v.toFixed(1)).join(' ')]),
    ]),
  );
  if (r.memory.renderWorkerGrowth !== undefined) out.push(`render worker peak RSS, 10,000 vs 1,000 recipients: ${(r.memory.renderWorkerGrowth * 100).toFixed(1)}%`);
  if (r.memory.sendWorkerGrowth !== undefined) out.push(`send worker peak RSS, 10,000 vs 1,000 recipients: ${(r.memory.sendWorkerGrowth * 100).toFixed(1)}%`);
  out.push('');
  if ('pending' in r.audit) out.push(`Audit export: ${r.audit.pending}`);
  else {
    out.push(`Audit export of ${r.audit.events.toLocaleString('en')} events (generated in ${r.audit.generateSeconds} s), each export in a fresh process:`);
    out.push(table([['format', 'events/s', 'seconds', 'peak RSS MB', 'MB written'], ...r.audit.exports.map((e) => [e.format, String(e.eventsPerSecond), e.seconds.toFixed(2), String(e.peakRssMb), (e.bytes / 2 ** 20).toFixed(1)])]));
  }
  out.push('');
  const t = r.targets;
  out.push(`Targets: render at least as fast as the Times floor: ${t.renderAtLeastAsFastAsTimesFloor ? 'met' : 'NOT met'}`);
  if (t.dispatchesPerSecondAt10000 !== undefined) out.push(`         250 dispatches/s at 10,000 recipients: ${t.endToEnd250At10000 ? 'met' : 'NOT met'} (${t.dispatchesPerSecondAt10000}/s)`);
  if (t.workerRssWithin20Percent !== undefined) out.push(`         worker peak RSS within 20% from 1,000 to 10,000: ${t.workerRssWithin20Percent ? 'met' : 'NOT met'}`);
  return `${out.join('\n')}\n`;
}
