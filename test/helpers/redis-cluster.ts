import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../src/queue/redis.ts';
import { startRedisServer, type TestRedis } from './redis.ts';

export type TestRedisCluster = {
  /** REDIS_URL for Chancery with REDIS_CLUSTER=1: every node, comma-separated. */
  url: string;
  nodes: TestRedis[];
  /** The node serving `key`'s slot, and the slot. */
  ownerOf(key: string): Promise<{ node: TestRedis; slot: number }>;
  /** SHUTDOWN every node and remove its data folder. */
  stop(): Promise<void>;
};

/** A direct connection to one node (no cluster redirections), for looking inside it. */
export function nodeClient(node: TestRedis): Redis {
  return new Redis({ host: '127.0.0.1', port: node.port, maxRetriesPerRequest: 1, retryStrategy: () => null });
}

/**
 * A real Redis Cluster of `size` masters (redis-server in cluster mode, each on loopback with its
 * own free client and bus ports and its nodes.conf in its own temp folder), slots spread by
 * `redis-cli --cluster create`; resolves once every node reports cluster_state:ok.
 */
export async function startRedisCluster(size = 3): Promise<TestRedisCluster> {
  const nodes: TestRedis[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < size; i++) {
      // The bus port is the client port + 10000 unless given: a free port may have no such twin.
      nodes.push(await startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(await freePort())]));
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
    await untilClusterOk(nodes);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: nodes.map((n) => n.url).join(','),
    nodes,
    async ownerOf(key) {
      const c = nodeClient(nodes[0]!);
      try {
        const slot = Number(await c.call('CLUSTER', 'KEYSLOT', key));
        // CLUSTER SLOTS: [[from, to, [host, port, id], ...], ...]
        const ranges = (await c.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        const range = ranges.find(([from, to]) => from <= slot && slot <= to);
        const node = nodes.find((n) => n.port === range?.[2][1]);
        if (!node) throw new Error(`no node serves slot ${slot}`);
        return { node, slot };
      } finally {
        c.disconnect();
      }
    },
    stop,
  };
}

/** Every node sees all 16384 slots served and the cluster ok (gossip takes a moment after create). */
async function untilClusterOk(nodes: TestRedis[]): Promise<void> {
  const clients = nodes.map(nodeClient);
  try {
    let last = '';
    for (let i = 0; i < 600; i++) {
      const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
      if (infos.every((s) => /cluster_state:ok/.test(s) && /cluster_slots_ok:16384/.test(s) && new RegExp(`cluster_known_nodes:${nodes.length}\\b`).test(s))) return;
      last = infos.map((s) => /cluster_state:\w+/.exec(s)?.[0]).join(' ');
      await sleep(50);
    }
    throw new Error(`test Redis Cluster not ok after 30 s: ${last}`);
  } finally {
    clients.forEach((c) => c.disconnect());
  }
}
