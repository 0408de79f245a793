/** Baselines (what the hardware and our ZooKeeper client allow) and the 1% drift used by scenario (c). */
import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import { silentLogger } from '../common/logger.js';
import { connectZk } from '../common/zk/addon-client.js';
import { connectZkFast } from '../common/zk/fast-client.js';
import { walkTree } from '../common/zk/walk.js';
import type { GenNode, Levels } from './generate.js';
import { ownershipHash } from './env.js';

/**
 * Baseline 1: a walk of the tree with our walker (one connection), over the protocol client (multiRead
 * batches, ZooKeeper 3.6+) or the addon client (one request per node). Returns nodes read.
 */
export async function zkWalkBaseline(servers: string, root: string, concurrency: number, client: 'fast' | 'addon'): Promise<number> {
  const opts = { servers: servers.split(','), sessionTimeoutMs: 30_000, auth: null, logger: silentLogger() };
  const conn = client === 'fast' ? await connectZkFast(opts) : await connectZk(opts);
  try {
    const tree = await walkTree(conn, {
      prefixes: [root],
      excludes: [],
      skipEphemeral: false,
      allowEmptySource: false,
      concurrency,
      keyOf: (p) => p,
    });
    return tree.size;
  } finally {
    conn.close();
  }
}

async function lanes<T>(items: readonly T[], inFlight: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Keys at `prefix` and below `prefix/` (segment-wise). */
export async function countEtcd(etcd: Etcd3, prefix: string): Promise<number> {
  const exact = await etcd.kv.range({ key: Buffer.from(prefix), count_only: true });
  const below = await etcd.kv.range({ key: Buffer.from(`${prefix}/`), range_end: Buffer.from(`${prefix}0`), count_only: true });
  return Number(exact.count) + Number(below.count);
}

/**
 * Baseline 2: the same writes alone — every node's key (under `keyPrefix`) and data bytes — as unconditional
 * puts in `opsPerTxn`-operation transactions, `inFlight` transactions in flight, straight through etcd3.
 */
export async function etcdPutBaseline(etcd: Etcd3, keyPrefix: string, levels: Levels, opsPerTxn: number, inFlight: number): Promise<number> {
  const nodes: GenNode[] = levels.flat();
  await lanes(chunk(nodes, opsPerTxn), inFlight, async (batch) => {
    await etcd.kv.txn({
      compare: [],
      success: batch.map((n) => ({ request_put: { key: Buffer.from(keyPrefix + n.path), value: n.data } })),
      failure: [],
    });
  });
  return nodes.length;
}

export interface Drift {
  readonly missing: string[];
  readonly changed: string[];
  readonly extra: string[];
}

/**
 * Drifts etcd from ZooKeeper by `fraction` of the nodes, split evenly between
 * missing (etcd keys deleted), changed (different values put) and extra (keys not in ZooKeeper,
 * recorded as ours in the Redis hash with value `pending`). Only leaves are touched.
 */
export async function applyDrift(etcd: Etcd3, redis: Redis, instance: string, levels: Levels, fraction: number): Promise<Drift> {
  const leaves = levels[levels.length - 1] ?? [];
  const total = levels.reduce((s, l) => s + l.length, 0);
  const n = Math.max(3, Math.round(total * fraction));
  const per = Math.ceil(n / 3);
  // A fixed stride spreads the picks over the whole tree and never picks a leaf twice.
  const stride = Math.max(1, Math.floor(leaves.length / (2 * per)));
  const picked = Array.from({ length: 2 * per }, (_, i) => leaves[(i * stride) % leaves.length] as GenNode);
  const missing = picked.slice(0, per).map((l) => l.path);
  const changed = picked.slice(per).map((l) => l.path);
  const extra = picked.slice(0, n - 2 * per).map((l, i) => `${l.path}%26bench-extra%3D${i}`);

  await lanes(chunk(missing, 128), 8, async (keys) => {
    await etcd.kv.txn({ compare: [], success: keys.map((k) => ({ request_delete_range: { key: Buffer.from(k) } })), failure: [] });
  });
  await lanes(chunk(changed, 128), 8, async (keys) => {
    await etcd.kv.txn({
      compare: [],
      success: keys.map((k, i) => ({ request_put: { key: Buffer.from(k), value: Buffer.from(`drifted-by-bench-${i}`) } })),
      failure: [],
    });
  });
  for (const keys of chunk(extra, 1000)) {
    await redis.hset(ownershipHash(instance), ...keys.flatMap((k) => [k, 'pending']));
  }
  await lanes(chunk(extra, 128), 8, async (keys) => {
    await etcd.kv.txn({
      compare: [],
      success: keys.map((k) => ({ request_put: { key: Buffer.from(k), value: Buffer.from('10.255.0.1') } })),
      failure: [],
    });
  });
  return { missing, changed, extra };
}
