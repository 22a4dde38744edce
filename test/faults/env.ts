import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { verifyChain } from '../../src/audit/verify.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { recipientSchema, type Recipient } from '../../src/registry/index.ts';
import type { Db } from '../../src/store/db.ts';
import type { Received } from './fault-smtp.ts';

/** Shared set-up of the fault suite: synthetic registries, a temp home, outcome checks, the report. */

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
const SEEDS = path.join(ROOT, 'seeds', 'registry.json');
export const REPORT = path.join(ROOT, 'test-artifacts', 'faults-report.json');

/**
 * n recipients derived from the 193 seed records: the seed's names, titles and address under a
 * fresh three-letter id (AAA, AAB, ... skipping the real ones) and an address of its own.
 * Each is validated with recipientSchema, as an import would.
 */
export function syntheticRecipients(n: number): Recipient[] {
  const seeds = JSON.parse(fs.readFileSync(SEEDS, 'utf8')) as Recipient[];
  if (n <= seeds.length) return seeds.slice(0, n).map((s) => recipientSchema.parse(s));
  const taken = new Set(seeds.map((s) => s.id));
  const out: Recipient[] = seeds.map((s) => recipientSchema.parse(s));
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  for (let k = 0; out.length < n && k < 26 ** 3; k++) {
    const id = `${A[Math.floor(k / 676)]}${A[Math.floor(k / 26) % 26]}${A[k % 26]}`;
    if (taken.has(id)) continue;
    const s = seeds[out.length % seeds.length]!;
    out.push(recipientSchema.parse({ ...s, id, email: { to: [`mission.${id.toLowerCase()}@example.org`], cc: [] } }));
  }
  return out;
}

export type FaultEnv = { home: string; env: NodeJS.ProcessEnv; cfg: Config; cleanup(): void };

/** A temp CHANCERY_HOME and the environment a `chancery` subprocess gets. */
export function faultEnv(opts: { redisUrl: string; smtpUrl?: string; recipients?: number; extra?: Record<string, string> }): FaultEnv {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-faults-'));
  let registry = SEEDS;
  if (opts.recipients !== undefined) {
    registry = path.join(home, 'registry.json');
    fs.writeFileSync(registry, JSON.stringify(syntheticRecipients(opts.recipients)));
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CHANCERY_HOME: home,
    CHANCERY_TEMPLATES: path.join(ROOT, 'templates'),
    CHANCERY_REGISTRY: registry,
    REDIS_URL: opts.redisUrl,
    ...(opts.smtpUrl ? { SMTP_URL: opts.smtpUrl } : {}),
    SEND_BACKOFF_MS: '100',
    SEND_ATTEMPTS: '8',
    SEND_CONCURRENCY: '8',
    RENDER_CONCURRENCY: '2',
    WORKER_LOCK_MS: '2000',
    ...opts.extra,
  };
  return { home, env, cfg: loadConfig(env), cleanup: () => fs.rmSync(home, { recursive: true, force: true }) };
}

export type Outcome = {
  dispatches: number;
  sent: number;
  /** Dispatches the SMTP server never received, or not recorded as sent. */
  lost: string[];
  /** Dispatches received more than once. */
  receivedTwice: number;
  /** Of those, received under one Message-ID each time, the one recorded. */
  sameMessageId: number;
  /** Of those, flagged possible_duplicate in the store AND by a dispatch.possible-duplicate event. */
  flagged: number;
  /** Flagged dispatches in the store (a flag is allowed without a second copy: the outcome was unknown). */
  flaggedInStore: number;
  /** Duplicates missing a flag or with differing Message-IDs (the goal is none). */
  unflaggedDuplicates: string[];
  auditEvents: number;
  auditOk: boolean;
  auditProblem?: string;
};

/** What the SMTP server received against what the store says, and the audit chain. */
export async function outcome(db: Db, campaignId: string, received: Received[]): Promise<Outcome> {
  const rows = await db.selectFrom('dispatches').select(['id', 'state', 'message_id', 'possible_duplicate']).where('campaign_id', '=', campaignId).execute();
  const events = new Set(
    (await db.selectFrom('events').select('dispatch_id').where('campaign_id', '=', campaignId).where('type', '=', 'dispatch.possible-duplicate').execute()).map((e) => e.dispatch_id),
  );
  const byDispatch = new Map<string, string[]>();
  for (const r of received) byDispatch.set(r.dispatchId, [...(byDispatch.get(r.dispatchId) ?? []), r.messageId]);
  const o: Outcome = { dispatches: rows.length, sent: 0, lost: [], receivedTwice: 0, sameMessageId: 0, flagged: 0, flaggedInStore: 0, unflaggedDuplicates: [], auditEvents: 0, auditOk: false };
  for (const r of rows) {
    const ids = byDispatch.get(r.id) ?? [];
    if (r.state === 'sent') o.sent++;
    if (r.possible_duplicate === 1) o.flaggedInStore++;
    if (ids.length === 0 || r.state !== 'sent') o.lost.push(r.id);
    if (ids.length > 1) {
      o.receivedTwice++;
      const same = ids.every((m) => m === r.message_id);
      const flagged = r.possible_duplicate === 1 && events.has(r.id);
      if (same) o.sameMessageId++;
      if (flagged) o.flagged++;
      if (!same || !flagged) o.unflaggedDuplicates.push(r.id);
    }
  }
  const chain = await verifyChain(db);
  o.auditEvents = chain.count;
  o.auditOk = chain.ok;
  if (!chain.ok) o.auditProblem = `event ${chain.firstBad.id}: ${chain.firstBad.reason}`;
  return o;
}

/** Adds one section to test-artifacts/faults-report.json (the suite runs its files one by one). */
export function writeReport(section: string, data: unknown): void {
  fs.mkdirSync(path.dirname(REPORT), { recursive: true });
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(fs.readFileSync(REPORT, 'utf8')) as Record<string, unknown>;
  } catch {
    report = {};
  }
  report[section] = data;
  report.updated = new Date().toISOString();
  fs.writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`faults report, ${section}: ${JSON.stringify(data)}\n`);
}
