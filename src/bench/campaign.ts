/**
 * End-to-end benchmark of one campaign: N synthetic recipients (clones of the 193 seeds with
 * distinct ids), created, preflighted and approved as a user would, then sent: enqueue (startSend),
 * render worker processes (`chancery worker --queues render`), a send worker process, a real SMTP
 * server on loopback, every step recorded in the store with its audit event; the audit chain is
 * verified at the end. Everything runs in a temporary CHANCERY_HOME with its own managed Redis,
 * removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyChain } from '../audit/verify.ts';
import { approveCampaign } from '../campaigns/approval.ts';
import { openDispatchContext, type OpenedContext } from '../campaigns/context.ts';
import { createCampaign } from '../campaigns/create.ts';
import { startSend } from '../campaigns/lifecycle.ts';
import { loadConfig } from '../config.ts';
import { stopManagedRedis } from '../queue/redis.ts';
import { renderDispatchIds, type RenderPayload } from '../queue/queues.ts';
import { recipientSchema, type Recipient } from '../registry/index.ts';
import { progressOf } from '../../workers/run.ts';
import { startSmtpSink } from './smtp-sink.ts';
import { round } from './render.ts';
import { cpuSeconds, peakRssMb, quantile, resetPeakRss } from './stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export type ProcessFigure = {
  role: 'render' | 'send' | 'coordinator';
  pid: number;
  peakRssMb: number;
  /** CPU seconds used during the measured part, and as a share of one core over it. */
  cpuSeconds: number;
  cpuShare: number;
};

export type CampaignRun = {
  recipients: number;
  renderWorkers: number;
  /** From the first enqueue to the campaign recorded done (every dispatch sent, recorded, audited). */
  seconds: number;
  dispatchesPerSecond: number;
  /** startSend: dispatch rows with their events, then the render jobs (addBulk). */
  enqueueSeconds: number;
  /** Time from a dispatch's render job entering the queue to the SMTP server accepting its message. */
  latencyMs: { p50: number; p95: number; max: number };
  /** Messages the SMTP server accepted; distinct dispatches among them; dispatches sent in the store. */
  accepted: number;
  distinctAccepted: number;
  duplicates: number;
  sentInStore: number;
  failedInStore: number;
  audit: { verified: boolean; events: number; seconds: number };
  /** Create + preflight (merges and renders every letter) + approve, before the measured part. */
  preflightSeconds: number;
  /** Peak RSS (VmHWM) of each process while the campaign ran. */
  processes: ProcessFigure[];
};

/** N recipients cloned from the seeds: ids org:bench-00001..., one e-mail address each. */
export function syntheticRecipients(seeds: readonly Recipient[], n: number): Recipient[] {
  const width = Math.max(5, String(n).length);
  return Array.from({ length: n }, (_, i) => {
    const seed = seeds[i % seeds.length]!;
    const tag = String(i + 1).padStart(width, '0');
    return recipientSchema.parse({
      ...structuredClone(seed),
      id: `org:bench-${tag}`,
      kind: 'organization',
      groups: ['bench'],
      email: { to: [`mission-${tag}@bench.example.org`], cc: [] },
    });
  });
}

type Worker = { role: 'render' | 'send'; child: ChildProcess; output: () => string; exited: Promise<void> };

async function startWorker(env: NodeJS.ProcessEnv, role: 'render' | 'send', profileDir?: string): Promise<Worker> {
  const args = [...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), path.join(ROOT, 'bin', 'chancery.js'), 'worker', '--queues', role];
  const child = spawn(process.execPath, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!/ready:/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bench: ${role} worker did not start: ${out.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await sleep(50);
  }
  return { role, child, output: () => out, exited };
}

async function stopWorker(w: Worker): Promise<void> {
  if (w.child.exitCode !== null) return;
  w.child.kill('SIGTERM');
  const killed = await Promise.race([w.exited.then(() => false), sleep(30_000).then(() => true)]);
  if (killed) {
    w.child.kill('SIGKILL');
    await w.exited;
  }
}

export type CampaignBenchOptions = {
  recipients: number;
  renderWorkers: number;
  seeds: readonly Recipient[];
  templatesDir: string;
  sendConcurrency?: number;
  renderConcurrency?: number;
  /** Write V8 CPU profiles of the worker processes here (node --cpu-prof). */
  profileDir?: string;
  log?: (line: string) => void;
  /** Give up after this long waiting for the campaign to finish (default 20 min). */
  timeoutMs?: number;
  /** The PostgreSQL store to run on (DATABASE_URL of every process); unset, a SQLite file in the temporary home. */
  databaseUrl?: string;
};

export async function benchCampaign(opts: CampaignBenchOptions): Promise<CampaignRun> {
  const log = opts.log ?? (() => {});
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-bench-'));
  const sink = await startSmtpSink();
  const workers: Worker[] = [];
  let opened: OpenedContext | undefined;
  const registry = path.join(home, 'registry.json');
  fs.writeFileSync(registry, JSON.stringify(syntheticRecipients(opts.seeds, opts.recipients)));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CHANCERY_HOME: home,
    CHANCERY_TEMPLATES: opts.templatesDir,
    CHANCERY_REGISTRY: registry,
    SMTP_URL: sink.url,
    SEND_CONCURRENCY: String(opts.sendConcurrency ?? 16),
    RENDER_CONCURRENCY: String(opts.renderConcurrency ?? 2),
    SEND_RATE_PER_MINUTE: '0',
  };
  // Its own managed Redis under the temporary home, whatever the caller's environment says; the
  // store the caller chose.
  delete env.REDIS_URL;
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  else delete env.DATABASE_URL;
  const cfg = loadConfig(env);
  try {
    const tPre = performance.now();
    opened = await openDispatchContext(cfg, { actor: 'bench', log });
    const { ctx } = opened;
    const created = await createCampaign(ctx.db, cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: 'all', replyBy: '2009-07-31', by: 'bench-drafter' });
    await approveCampaign(ctx.db, cfg, created.id, 'bench-approver');
    const preflightSeconds = (performance.now() - tPre) / 1000;
    log(`campaign ${created.id}: ${opts.recipients} recipients approved in ${preflightSeconds.toFixed(1)} s; starting ${opts.renderWorkers} render worker(s) and a send worker`);

    const started = await Promise.all([
      ...Array.from({ length: opts.renderWorkers }, () => startWorker(env, 'render', opts.profileDir)),
      startWorker(env, 'send', opts.profileDir),
    ]);
    workers.push(...started);

    resetPeakRss();
    const pids = [...workers.map((w) => w.child.pid!), process.pid];
    const cpu0 = pids.map((pid) => cpuSeconds(pid) ?? 0);
    const t0 = performance.now();
    await startSend(ctx.db, cfg, ctx.queues, created.id, 'bench-sender');
    const enqueueSeconds = (performance.now() - t0) / 1000;
    const deadline = Date.now() + (opts.timeoutMs ?? 20 * 60_000);
    let last = 0;
    // Watch the campaign's state (one row) every 25 ms: the step that closes the last open
    // dispatch records the campaign done in the same transaction (completeIfDone), and a pause
    // leaves 'sending' too. Counting every dispatch by state each 25 ms cost the coordinator a
    // share of a core the workers need; the full count runs twice a second, as a safety net.
    let counted = 0;
    for (;;) {
      const c = await ctx.db.selectFrom('campaigns').select('state').where('id', '=', created.id).executeTakeFirstOrThrow();
      if (c.state !== 'sending' || Date.now() - counted >= 500) {
        counted = Date.now();
        const p = await progressOf(ctx, created.id);
        if (p.open === 0 || p.campaignState !== 'sending') break;
      }
      if (Date.now() > deadline) {
        const p = await progressOf(ctx, created.id);
        throw new Error(`bench: campaign not done after ${(opts.timeoutMs ?? 20 * 60_000) / 1000} s: ${p.sent} sent, ${p.open} open`);
      }
      if (Date.now() - last > 5_000) {
        const p = await progressOf(ctx, created.id);
        log(`  ${p.sent} sent, ${p.failed} failed, ${p.open} open`);
        last = Date.now();
      }
      await sleep(25);
    }
    const seconds = (performance.now() - t0) / 1000;
    const roles = [...workers.map((w) => w.role), 'coordinator' as const];
    const processes: ProcessFigure[] = pids.map((pid, i) => {
      const cpu = (cpuSeconds(pid) ?? Number.NaN) - cpu0[i]!;
      return { role: roles[i]!, pid, peakRssMb: peakRssMb(pid) ?? Number.NaN, cpuSeconds: round(cpu), cpuShare: round(cpu / seconds) };
    });
    await Promise.all(workers.map(stopWorker));

    // Enqueue time of each dispatch: the timestamp BullMQ gave the render job that carried it.
    const enqueuedAt = new Map<string, number>();
    for (let start = 0; ; start += 1000) {
      const jobs = await ctx.queues.render.getJobs(['completed', 'failed'], start, start + 999, true);
      for (const j of jobs) if (j?.data) for (const id of renderDispatchIds(j.data as RenderPayload)) enqueuedAt.set(id, j.timestamp);
      if (jobs.length < 1000) break;
    }
    const latencies: number[] = [];
    let duplicates = 0;
    for (const [dispatchId, times] of sink.accepted) {
      duplicates += times.length - 1;
      const at = enqueuedAt.get(dispatchId);
      if (at !== undefined) latencies.push(times[0]! - at);
    }
    const counts = await ctx.db.selectFrom('dispatches').select(['state']).select((eb) => eb.fn.countAll<number>().as('n')).where('campaign_id', '=', created.id).groupBy('state').execute();
    const by = Object.fromEntries(counts.map((c) => [c.state, Number(c.n)])) as Record<string, number>;
    const tAudit = performance.now();
    const verified = await verifyChain(ctx.db);
    const auditSeconds = (performance.now() - tAudit) / 1000;
    const events = await ctx.db.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return {
      recipients: opts.recipients,
      renderWorkers: opts.renderWorkers,
      seconds: round(seconds),
      dispatchesPerSecond: round(opts.recipients / seconds, 1),
      enqueueSeconds: round(enqueueSeconds),
      latencyMs: { p50: Math.round(quantile(latencies, 0.5)), p95: Math.round(quantile(latencies, 0.95)), max: Math.round(Math.max(...latencies)) },
      accepted: sink.count(),
      distinctAccepted: sink.accepted.size,
      duplicates,
      sentInStore: by.sent ?? 0,
      failedInStore: by.failed ?? 0,
      audit: { verified: verified.ok, events: Number(events.n), seconds: round(auditSeconds) },
      preflightSeconds: round(preflightSeconds),
      processes,
    };
  } catch (err) {
    for (const w of workers) log(`${w.role} worker ${w.child.pid} output: ${w.output().trim().split('\n').slice(-5).join(' | ')}`);
    throw err;
  } finally {
    await Promise.all(workers.map(stopWorker));
    await opened?.close().catch(() => undefined);
    await stopManagedRedis(cfg).catch(() => false);
    await sink.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}
