/**
 * Render benchmark: the CU 2009/92 note for each distinct recipient of the registry, rendered by
 * Chancery's renderer and by the two plain-pdfkit baselines, in the same process, interleaved run
 * by run so that a noisy neighbour weighs on all three alike. Every document is merged beforehand:
 * only rendering is timed. Chancery's caches are cleared before each of its runs, so a run is one
 * campaign from a cold start (its static paragraphs laid out once per run, not once ever).
 */
import type { MergedDocument, Run } from '../document/model.ts';
import { mergeDocument } from '../merge/index.ts';
import type { Recipient } from '../registry/index.ts';
import { clearRenderCaches, renderDocument } from '../render/index.ts';
import type { Template } from '../templates/index.ts';
import { renderNaive, renderTimes, type PlainBlock, type PlainNote } from './baselines.ts';
import { median } from './stats.ts';

export type RendererName = 'chancery' | 'pdfkitNaive' | 'pdfkitTimes';

export type RendererFigures = {
  /** Documents rendered per run (distinct recipients). */
  docsPerRun: number;
  runs: number;
  /** Wall-clock milliseconds per document, median over runs (one core: documents one after the other). */
  msPerDoc: number;
  /** CPU milliseconds per document (all threads of the process), median over runs. */
  cpuMsPerDoc: number;
  /** 1000 / msPerDoc: documents per second on one core. */
  docsPerSecondPerCore: number;
  /** Every run's wall-clock ms per document. */
  samples: number[];
  pages: { min: number; max: number };
  bytesPerDoc: number;
};

export type RenderBench = {
  note: string;
  recipients: number;
  renderers: Record<RendererName, RendererFigures>;
  /** Ratios of wall-clock ms per document. */
  ratios: { naiveOverChancery: number; timesOverChancery: number; naiveOverTimes: number };
};

/** The merged note as the baselines take it: paragraphs of plain runs, list items with their labels. */
export function plainNote(doc: MergedDocument): PlainNote {
  const runs = (rs: readonly Run[]): PlainBlock['runs'] => {
    const out: PlainBlock['runs'] = [];
    for (const r of rs) {
      const text = r.type === 'text' ? r.text : r.type === 'break' ? '\n' : r.mark;
      const bold = r.type === 'text' && (r.bold ?? false);
      const last = out[out.length - 1];
      if (last && last.bold === bold) last.text += text;
      else out.push({ text, bold });
    }
    return out.length > 0 ? out : [{ text: ' ', bold: false }];
  };
  const blocks: PlainBlock[] = [];
  let addressee: string[] = [];
  for (const b of doc.blocks) {
    if (b.type === 'paragraph') blocks.push({ runs: runs(b.runs), align: b.align === 'left' ? 'left' : 'justify', ...(b.number ? { label: b.number } : {}) });
    else if (b.type === 'heading') blocks.push({ runs: runs(b.runs).map((r) => ({ ...r, bold: true })), align: 'left' });
    else if (b.type === 'list') for (const it of b.items) blocks.push({ label: it.label, runs: runs(it.runs), align: 'justify' });
    else if (b.type === 'addressee') addressee = b.lines;
  }
  return { title: doc.title, blocks, addressee };
}

/** pdfinfo-free page count: the /Count of the page tree. */
function pageCount(pdf: Buffer): number {
  const m = /\/Type \/Pages\s*\n?\/Count (\d+)/.exec(pdf.toString('latin1')) ?? /\/Count (\d+)/.exec(pdf.toString('latin1'));
  return m ? Number(m[1]) : 0;
}

type Job = { name: RendererName; docs: number; render: (i: number) => Promise<Buffer> };

export async function benchRender(template: Template, recipients: readonly Recipient[], opts: { runs: number; naiveDocs?: number; limit?: number; log?: (s: string) => void }): Promise<RenderBench> {
  const list = opts.limit ? recipients.slice(0, opts.limit) : [...recipients];
  const merged = list.map((r) => mergeDocument(template, r));
  const plain = merged.map(plainNote);
  const jobs: Job[] = [
    { name: 'chancery', docs: merged.length, render: async (i) => (await renderDocument(merged[i]!)).bytes },
    // The naive way costs ~100 ms a document: a sample of the recipients per run keeps the bench short.
    { name: 'pdfkitNaive', docs: Math.min(merged.length, opts.naiveDocs ?? merged.length), render: (i) => renderNaive(plain[i]!) },
    { name: 'pdfkitTimes', docs: merged.length, render: (i) => renderTimes(plain[i]!) },
  ];
  const wall: Record<RendererName, number[]> = { chancery: [], pdfkitNaive: [], pdfkitTimes: [] };
  const cpu: Record<RendererName, number[]> = { chancery: [], pdfkitNaive: [], pdfkitTimes: [] };
  const pages: Record<RendererName, number[]> = { chancery: [], pdfkitNaive: [], pdfkitTimes: [] };
  const bytes: Record<RendererName, number[]> = { chancery: [], pdfkitNaive: [], pdfkitTimes: [] };
  // One untimed warm-up document each (module loading, JIT), then the timed runs, interleaved.
  for (const job of jobs) await job.render(0);
  for (let run = 0; run < opts.runs; run++) {
    for (const job of jobs) {
      if (job.name === 'chancery') clearRenderCaches();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < job.docs; i++) {
        const pdf = await job.render(i);
        if (run === 0) {
          pages[job.name].push(pageCount(pdf));
          bytes[job.name].push(pdf.length);
        }
      }
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      wall[job.name].push(ms / job.docs);
      cpu[job.name].push((c.user + c.system) / 1000 / job.docs);
      opts.log?.(`render run ${run + 1}/${opts.runs} ${job.name}: ${(ms / job.docs).toFixed(2)} ms/doc`);
    }
  }
  const figures = (name: RendererName, docs: number): RendererFigures => {
    const ms = median(wall[name]);
    return {
      docsPerRun: docs,
      runs: opts.runs,
      msPerDoc: round(ms),
      cpuMsPerDoc: round(median(cpu[name])),
      docsPerSecondPerCore: round(1000 / ms, 1),
      samples: wall[name].map((v) => round(v)),
      pages: { min: Math.min(...pages[name]), max: Math.max(...pages[name]) },
      bytesPerDoc: Math.round(bytes[name].reduce((a, b) => a + b, 0) / Math.max(bytes[name].length, 1)),
    };
  };
  const renderers = {
    chancery: figures('chancery', jobs[0]!.docs),
    pdfkitNaive: figures('pdfkitNaive', jobs[1]!.docs),
    pdfkitTimes: figures('pdfkitTimes', jobs[2]!.docs),
  };
  return {
    note: `${template.meta.id}.${template.meta.language} (${template.meta.reference})`,
    recipients: merged.length,
    renderers,
    ratios: {
      naiveOverChancery: round(renderers.pdfkitNaive.msPerDoc / renderers.chancery.msPerDoc, 1),
      timesOverChancery: round(renderers.pdfkitTimes.msPerDoc / renderers.chancery.msPerDoc, 2),
      naiveOverTimes: round(renderers.pdfkitNaive.msPerDoc / renderers.pdfkitTimes.msPerDoc, 1),
    },
  };
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
