import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/verify.ts';
import { approveCampaign } from '../../src/campaigns/approval.ts';
import { createCampaign } from '../../src/campaigns/create.ts';
import { ensureRegistryLoaded, importRecipients, listRecipients, parseRegistryFile } from '../../src/registry/index.ts';
import { openDb, type Db } from '../../src/store/db.ts';
import { cli } from '../dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from '../helpers/redis.ts';
import { faultEnv, ROOT, syntheticRecipients, writeReport, type FaultEnv } from './env.ts';

/**
 * A command killed (SIGKILL) while its write transaction is open leaves the store as it was.
 * "While its transaction is open" is observed, not guessed: a probe connection asks SQLite for
 * the write lock without waiting; the child is killed once it has held that lock for 200 ms.
 */

let redis: TestRedis;
const report: Record<string, unknown> = {};
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  writeReport('store', report);
  await redis?.stop();
});

/** Runs `chancery ARGS` and SIGKILLs it once it has held the store's write lock for holdMs. */
async function killInsideTransaction(t: FaultEnv, args: string[], holdMs = 200): Promise<{ killedInside: boolean; lockHeldMs: number; output: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), ...args], { env: t.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const probe = new SQLite(t.cfg.paths.db, { timeout: 0 });
  let busySince: number | undefined;
  let held = 0;
  try {
    while (child.exitCode === null && child.signalCode === null) {
      let busy = false;
      try {
        probe.exec('BEGIN IMMEDIATE');
        probe.exec('ROLLBACK');
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
        busy = true;
      }
      if (busy) {
        busySince ??= Date.now();
        held = Date.now() - busySince;
        if (held >= holdMs) {
          child.kill('SIGKILL');
          await exited;
          return { killedInside: child.signalCode === 'SIGKILL', lockHeldMs: held, output };
        }
      } else busySince = undefined;
      await sleep(5);
    }
    await exited;
    return { killedInside: false, lockHeldMs: held, output };
  } finally {
    probe.close();
  }
}

function integrity(file: string): string {
  const db = new SQLite(file, { readonly: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** A scratch table and a trigger that makes every insert into `table` slow (a slow disk). */
async function slowInserts(db: Db, table: 'campaigns' | 'dispatches', rows: number): Promise<void> {
  await sql`CREATE TABLE IF NOT EXISTS fault_slow (x INTEGER)`.execute(db);
  await sql`DELETE FROM fault_slow`.execute(db);
  await sql.raw(`INSERT INTO fault_slow (x) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${rows}) SELECT x FROM n`).execute(db);
  await sql.raw(`CREATE TRIGGER fault_slow_${table} AFTER INSERT ON ${table} BEGIN SELECT count(*) FROM fault_slow a, fault_slow b, fault_slow c; END`).execute(db);
}

async function dropSlow(db: Db, table: string): Promise<void> {
  await sql.raw(`DROP TRIGGER IF EXISTS fault_slow_${table}`).execute(db);
}

describe('the store, with a command killed in the middle of its transaction', () => {
  it('registry import of a 100,000-row file: nothing half-imported; the same file then imports in full', async () => {
    const t = faultEnv({ redisUrl: redis.url });
    try {
      const db = await openDb(t.cfg.paths.db);
      await importRecipients(db, syntheticRecipients(3));
      await db.destroy();
      const file = path.join(t.home, 'big.csv');
      const lines = ['id,kind,language,addressee_type,name_en_short,name_en_running,name_en_of,title_en,title_en_dative,title_en_gender,address_line1,city,email_to'];
      for (let i = 0; i < 100_000; i++) lines.push(`org:X${i},organization,en,permanent-mission,Org ${i},the Org ${i},of the Org ${i},Permanent Mission,to the Permanent Mission,f,Wagramer Strasse 5,Vienna,desk${i}@example.org`);
      fs.writeFileSync(file, `${lines.join('\n')}\n`);

      const k = await killInsideTransaction(t, ['registry', 'import', file]);
      expect(k.killedInside, k.output).toBe(true);
      expect(integrity(t.cfg.paths.db)).toBe('ok');
      const after = await openDb(t.cfg.paths.db);
      try {
        expect((await listRecipients(after)).map((r) => r.id)).toEqual(syntheticRecipients(3).map((r) => r.id).sort());
        // The same file, uninterrupted: all 100,000 rows.
        const began = Date.now();
        const r = await importRecipients(after, await parseRegistryFile(file));
        expect(r).toEqual({ added: 100_000, updated: 0, unchanged: 0 });
        const n = await after.selectFrom('recipients').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        expect(Number(n.n)).toBe(100_003);
        report.registryImport = { rows: 100_000, killedInsideTransaction: k.killedInside, lockHeldMsAtKill: k.lockHeldMs, rowsLeftBehind: 0, integrity: 'ok', fullImportSeconds: Math.round((Date.now() - began) / 1000) };
      } finally {
        await after.destroy();
      }
    } finally {
      t.cleanup();
    }
  });

  it('campaign create (next:CU): no campaign, no reference used, no event; the chain verifies; created cleanly afterwards', async () => {
    const t = faultEnv({ redisUrl: redis.url });
    try {
      const db = await openDb(t.cfg.paths.db);
      await ensureRegistryLoaded(db, t.cfg.CHANCERY_REGISTRY);
      await slowInserts(db, 'campaigns', 500); // a 125M-row count in the trigger: the lock is held well past the 200 ms at which the probe kills, even on a fast machine
      await db.destroy();
      const args = ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'next:CU', '--audience', 'FRA,DEU', '--reply-by', '2009-07-31', '--by', 'alice'];
      const k = await killInsideTransaction(t, args);
      expect(k.killedInside, k.output).toBe(true);
      expect(integrity(t.cfg.paths.db)).toBe('ok');
      const after = await openDb(t.cfg.paths.db);
      try {
        expect(await after.selectFrom('campaigns').selectAll().execute()).toHaveLength(0);
        expect(await after.selectFrom('events').select('id').where('type', '=', 'campaign.created').execute()).toHaveLength(0);
        expect((await verifyChain(after)).ok).toBe(true);
        await dropSlow(after, 'campaigns');
      } finally {
        await after.destroy();
      }
      const again = await cli(t.env, args);
      expect(again.code, again.stderr).toBe(0);
      const check = await openDb(t.cfg.paths.db);
      try {
        const rows = await check.selectFrom('campaigns').select(['id', 'reference']).execute();
        expect(rows).toHaveLength(1);
        expect(rows[0]!.reference).toMatch(/^CU 2009\/\d+/);
        report.campaignCreate = { killedInsideTransaction: k.killedInside, lockHeldMsAtKill: k.lockHeldMs, campaignsLeftBehind: 0, referenceAfterRestart: rows[0]!.reference, integrity: 'ok' };
      } finally {
        await check.destroy();
      }
    } finally {
      t.cleanup();
    }
  });

  it('campaign send (dispatch creation): no dispatch, campaign still approved; the chain verifies; sent cleanly afterwards', async () => {
    const t = faultEnv({ redisUrl: redis.url, extra: { QUEUE_PREFIX: '{store}' } });
    try {
      const db = await openDb(t.cfg.paths.db);
      await ensureRegistryLoaded(db, t.cfg.CHANCERY_REGISTRY);
      const ids = (await listRecipients(db)).slice(0, 40).map((r) => r.id);
      const c = await createCampaign(db, t.cfg, { templateId: 'cu-2009-92', reference: 'CU 2009/92 (A)', audience: ids.join(','), replyBy: '2009-07-31', by: 'alice' });
      await approveCampaign(db, t.cfg, c.id, 'bob');
      await slowInserts(db, 'dispatches', 100);
      await db.destroy();
      const k = await killInsideTransaction(t, ['campaign', 'send', c.id, '--detach', '--by', 'bob']);
      expect(k.killedInside, k.output).toBe(true);
      expect(integrity(t.cfg.paths.db)).toBe('ok');
      const after = await openDb(t.cfg.paths.db);
      try {
        expect(await after.selectFrom('dispatches').select('id').execute()).toHaveLength(0);
        expect((await after.selectFrom('campaigns').select('state').where('id', '=', c.id).executeTakeFirstOrThrow()).state).toBe('approved');
        expect(await after.selectFrom('events').select('id').where('type', '=', 'dispatch.created').execute()).toHaveLength(0);
        expect((await verifyChain(after)).ok).toBe(true);
        await dropSlow(after, 'dispatches');
      } finally {
        await after.destroy();
      }
      const again = await cli(t.env, ['campaign', 'send', c.id, '--detach', '--by', 'bob']);
      expect(again.code, again.stderr).toBe(0);
      const check = await openDb(t.cfg.paths.db);
      try {
        expect(await check.selectFrom('dispatches').select('id').where('campaign_id', '=', c.id).execute()).toHaveLength(40);
        expect((await check.selectFrom('campaigns').select('state').where('id', '=', c.id).executeTakeFirstOrThrow()).state).toBe('sending');
        expect((await verifyChain(check)).ok).toBe(true);
        report.campaignSend = { dispatches: 40, killedInsideTransaction: k.killedInside, lockHeldMsAtKill: k.lockHeldMs, dispatchesLeftBehind: 0, integrity: 'ok' };
      } finally {
        await check.destroy();
      }
    } finally {
      t.cleanup();
    }
  });
});
