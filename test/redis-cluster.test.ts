import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { InfrastructureError, UsageError } from '../src/errors.ts';
import { createConnection, ensureRedis } from '../src/queue/redis.ts';
import { openDb } from '../src/store/db.ts';
import { cli, dispatchEnv, lastLine, type DispatchEnv } from './dispatch.fixture.ts';
import { nodeClient, startRedisCluster, type TestRedisCluster } from './helpers/redis-cluster.ts';
import { startRedisServer } from './helpers/redis.ts';

/** The queues on a three-node Redis Cluster (REDIS_CLUSTER=1, QUEUE_PREFIX {chancery}). */

let cluster: TestRedisCluster;
let t: DispatchEnv;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  // The node serving {chancery} comes last, so a client that only talked to the first node
  // (not a cluster client) would fail with MOVED.
  const { node: owner } = await cluster.ownerOf('{chancery}');
  const url = [...cluster.nodes.filter((n) => n !== owner), owner].map((n) => n.url).join(',');
  // Global and per-campaign rate limits high enough never to wait, so both limiters' keys are used.
  t = await dispatchEnv(url, { extra: { REDIS_CLUSTER: '1', SEND_RATE_PER_MINUTE: '100000' } });
}, 120_000);
afterAll(async () => {
  await t?.cleanup();
  await cluster?.stop();
});

describe('configuration of a Redis Cluster', () => {
  const home = () => fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-cluster-cfg-'));

  it('refuses, with one line naming the variable, what cannot work on a cluster', () => {
    const two = 'redis://10.0.0.1:6379,redis://10.0.0.2:6379';
    expect(() => loadConfig({ REDIS_URL: two })).toThrow(new UsageError('configuration: REDIS_URL lists several servers; set REDIS_CLUSTER=1 for a Redis Cluster'));
    expect(() => loadConfig({ REDIS_CLUSTER: '1' })).toThrow(/^configuration: REDIS_CLUSTER needs REDIS_URL/);
    expect(() => loadConfig({ REDIS_URL: two, REDIS_CLUSTER: 'yes please' })).toThrow(/^configuration: REDIS_CLUSTER /);
    expect(() => loadConfig({ REDIS_URL: `${two},not a url`, REDIS_CLUSTER: '1' })).toThrow(/^configuration: REDIS_URL must be a redis:\/\/ URL/);
    expect(() => loadConfig({ REDIS_URL: two, REDIS_CLUSTER: '1', QUEUE_PREFIX: 'chancery' })).toThrow(/^configuration: QUEUE_PREFIX 'chancery' needs a hash tag such as \{chancery\}/);
    expect(() => loadConfig({ REDIS_URL: two, REDIS_CLUSTER: '1', QUEUE_PREFIX: '{}chancery' })).toThrow(/QUEUE_PREFIX/);
    expect(loadConfig({ REDIS_URL: two, REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'cop:{chancery}' }).REDIS_CLUSTER).toBe(true);
    expect(loadConfig({}).REDIS_CLUSTER).toBe(false);
  });

  it('a cluster node given as a single Redis is refused at once, not with MOVED errors later; the password stays out', async () => {
    const url = cluster.nodes[0]!.url.replace('redis://', 'redis://:s3cret@');
    const err = await ensureRedis(loadConfig({ CHANCERY_HOME: home(), REDIS_URL: url })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfrastructureError);
    expect((err as Error).message).toBe(`REDIS_URL redis://:***@127.0.0.1:${cluster.nodes[0]!.port} is a node of a Redis Cluster: set REDIS_CLUSTER=1`);
  });

  it('a cluster that does not answer is an infrastructure error naming its nodes', async () => {
    const gone = await startRedisServer();
    await gone.stop(); // nobody listens on its port now
    const err = await ensureRedis(loadConfig({ CHANCERY_HOME: home(), REDIS_URL: gone.url, REDIS_CLUSTER: '1' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfrastructureError);
    expect((err as Error).message).toMatch(new RegExp(`^REDIS_URL redis://127\\.0\\.0\\.1:${gone.port} is unreachable: `));
  });
});

describe('a campaign through the Redis Cluster', () => {
  it('reaches all 193 Member States once each, and every queue key lives in the one slot of {chancery}', async () => {
    const status = await cli(t.env, ['redis', 'status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/answering \(not managed by Chancery\)/);

    const created = await cli(t.env, ['campaign', 'create', '--template', 'cu-2009-92', '--reference', 'CU 2009/92 (A)', '--audience', 'group:member-states', '--reply-by', '2009-07-31', '--remind', '14,3', '--rate', '100000', '--by', 'alice']);
    expect(created.code, created.stderr).toBe(0);
    const id = lastLine(created.stdout);
    const approved = await cli(t.env, ['campaign', 'approve', id, '--by', 'bob']);
    expect(approved.code, approved.stderr).toBe(0);

    const sent = await cli(t.env, ['campaign', 'send', id]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/193 sent, 0 failed, 0 cancelled of 193; campaign done/);

    // Every dispatch sent once, and exactly one message per dispatch arrived.
    const db = await openDb(t.cfg.paths.db);
    try {
      const rows = await db.selectFrom('dispatches').select(['id', 'state', 'message_id', 'possible_duplicate']).where('campaign_id', '=', id).execute();
      expect(rows).toHaveLength(193);
      expect(rows.filter((r) => r.state !== 'sent' || r.possible_duplicate !== 0)).toEqual([]);
      const msgs = t.smtp.messages;
      expect(msgs).toHaveLength(193);
      const byDispatch = new Map(msgs.map((m) => [m.headers['x-chancery-dispatch'], m]));
      expect(byDispatch.size).toBe(193);
      for (const r of rows) expect(byDispatch.get(r.id)?.messageId, r.id).toBe(r.message_id);
    } finally {
      await db.destroy();
    }

    // The queues' keys are on the node serving the slot of {chancery}, all in that slot; the
    // other nodes hold nothing.
    const { node: owner, slot } = await cluster.ownerOf('{chancery}');
    for (const node of cluster.nodes) {
      const c = nodeClient(node);
      try {
        const keys = await c.keys('*');
        if (node !== owner) {
          expect(keys, `node ${node.port}`).toEqual([]);
          continue;
        }
        expect(keys.filter((k) => k.startsWith('{chancery}:send:')).length).toBeGreaterThan(0);
        expect(keys.filter((k) => k.startsWith('{chancery}:render:')).length).toBeGreaterThan(0);
        expect(keys.filter((k) => k.startsWith('{chancery}:remind:')).length).toBeGreaterThan(0);
        expect(keys.filter((k) => k.startsWith(`{chancery}:rate:${id}:`))).toHaveLength(1);
        expect(keys.filter((k) => !k.startsWith('{chancery}:'))).toEqual([]);
        expect(Number(await c.call('CLUSTER', 'COUNTKEYSINSLOT', slot))).toBe(keys.length);
      } finally {
        c.disconnect();
      }
    }
  }, 240_000);
});

describe('the Redis Cluster going away', () => {
  it('a command line connection fails its command instead of waiting for the cluster to come back', async () => {
    const handle = await ensureRedis(t.cfg);
    const producer = createConnection(handle);
    producer.on('error', () => {});
    try {
      expect(await producer.set('{chancery}:probe', '1')).toBe('OK');
      await Promise.all(cluster.nodes.map((n) => n.stop()));
      await expect(producer.get('{chancery}:probe')).rejects.toThrow(/Cluster isn't ready|Connection is closed/);
    } finally {
      producer.disconnect();
    }
  });
});
