/**
 * Dubbo-shaped registry generator for the benchmark (SPEC §10):
 *   /<root>/<interface>/{providers,consumers,configurators,routers}/<URL-encoded dubbo:// URL>
 * Leaf names are 400-1,500 bytes (many params, pid and timestamp embedded); leaf data is empty or the
 * creator's IP bytes. Leaves are PERSISTENT here: ephemeral ones would vanish with the loader's session.
 *
 * Standalone:
 *   node dist/bench/generate.js load --size 10k [--root /bench-x] [--connections 4] [--in-flight 500]
 *   node dist/bench/generate.js delete --root /bench-x [--instance I]   (ZooKeeper tree, etcd keys, Redis hash)
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { deleteEtcdPrefix, deleteOwnership, serversFromEnv } from './env.js';
import { prng } from '../test/helpers/prng.js';

export interface Shape {
  readonly interfaces: number;
  readonly providers: number;
  readonly consumers: number;
}
/** One znode; `levels[d]` holds every node at depth d below the root (parents before children). */
export interface GenNode {
  readonly path: string;
  readonly data: Buffer;
}
export type Levels = GenNode[][];

const SHAPES: Record<string, Shape> = {
  '10k': { interfaces: 286, providers: 10, consumers: 20 },
  '70k': { interfaces: 2000, providers: 10, consumers: 20 },
  '300k': { interfaces: 5000, providers: 20, consumers: 35 },
  '1m': { interfaces: 10000, providers: 40, consumers: 55 },
};
const CATEGORIES = ['providers', 'consumers', 'configurators', 'routers'] as const;

/** `10k`, `70k`, `300k`, `1m`, or a plain node count (10 providers + 20 consumers per interface). */
export function shapeFor(size: string): Shape {
  const known = SHAPES[size.toLowerCase()];
  if (known) return known;
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(size);
  if (!m) throw new Error(`bad size "${size}": use 10k, 70k, 300k, 1m or a node count`);
  const n = Number(m[1]) * (m[2]?.toLowerCase() === 'm' ? 1e6 : m[2]?.toLowerCase() === 'k' ? 1e3 : 1);
  return { interfaces: Math.max(1, Math.round((n - 1) / 35)), providers: 10, consumers: 20 };
}

/** Root + per interface: itself, 4 category nodes, providers + consumers leaves. */
export function nodeCount(s: Shape): number {
  return 1 + s.interfaces * (1 + CATEGORIES.length + s.providers + s.consumers);
}

const DOMAINS = ['order', 'user', 'payment', 'inventory', 'shipping', 'catalog', 'pricing', 'search', 'review', 'coupon'];
const VERBS = ['get', 'list', 'query', 'create', 'update', 'delete', 'sync', 'check', 'count', 'batch'];
const NOUNS = ['User', 'Order', 'Item', 'Sku', 'Address', 'Invoice', 'Refund', 'Stock', 'Price', 'Coupon', 'Session', 'Profile'];

function interfaceName(i: number): string {
  const d = DOMAINS[i % DOMAINS.length] as string;
  return `org.apache.dubbo.bench.${d}.api.${NOUNS[i % NOUNS.length] as string}${d[0]?.toUpperCase()}${d.slice(1)}Service${i}`;
}

/** A URL-encoded Dubbo URL whose encoded length is close to a random target in [400, 1500]. */
function dubboUrl(r: () => number, side: 'provider' | 'consumer', iface: string, app: string, ip: string): string {
  const target = 400 + Math.floor(r() * 1060);
  const pid = 1000 + Math.floor(r() * 60000);
  const timestamp = 1_700_000_000_000 + Math.floor(r() * 50_000_000_000);
  const methods: string[] = [];
  const build = (): string => {
    const params = [
      ['anyhost', 'true'], ['application', app], ['category', `${side}s`], ['check', 'false'], ['deprecated', 'false'],
      ['dubbo', '2.0.2'], ['dynamic', 'true'], ['generic', 'false'], ['interface', iface], ['metadata-type', 'remote'],
      ['methods', methods.join(',')], ['pid', String(pid)], ['qos.enable', 'false'], ['release', '2.7.15'],
      ['retries', '2'], ['side', side], ['threads', '200'], ['timeout', '3000'], ['timestamp', String(timestamp)],
      ['version', '1.0.0'],
    ];
    const query = params.map(([k, v]) => `${k}=${v}`).join('&');
    const scheme = side === 'provider' ? `dubbo://${ip}:20880` : `consumer://${ip}`;
    return encodeURIComponent(`${scheme}/${iface}?${query}`);
  };
  let url = build();
  while (url.length < target) {
    methods.push(`${VERBS[Math.floor(r() * VERBS.length)] as string}${NOUNS[Math.floor(r() * NOUNS.length)] as string}${methods.length}`);
    const next = build();
    if (next.length > 1500) break;
    url = next;
  }
  return url;
}

/** Builds the tree level by level. Deterministic for a given root, shape and seed. */
export function generateTree(root: string, shape: Shape, seed = 42): Levels {
  const r = prng(seed);
  const empty = Buffer.alloc(0);
  const levels: Levels = [[{ path: root, data: empty }], [], [], []];
  const [, ifaces, cats, leaves] = levels as [GenNode[], GenNode[], GenNode[], GenNode[]];
  for (let i = 0; i < shape.interfaces; i++) {
    const iface = interfaceName(i);
    const base = `${root}/${iface}`;
    ifaces.push({ path: base, data: empty });
    for (const c of CATEGORIES) cats.push({ path: `${base}/${c}`, data: empty });
    const app = `${DOMAINS[i % DOMAINS.length] as string}-app-${i % 97}`;
    for (const [side, n] of [['provider', shape.providers], ['consumer', shape.consumers]] as const) {
      for (let j = 0; j < n; j++) {
        const ip = `10.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${1 + Math.floor(r() * 254)}`;
        const name = dubboUrl(r, side, iface, side === 'provider' ? app : `caller-${j}`, ip);
        leaves.push({ path: `${base}/${side}s/${name}`, data: r() < 0.5 ? empty : Buffer.from(ip) });
      }
    }
  }
  return levels;
}

export function leafNameStats(levels: Levels): { min: number; max: number; avg: number } {
  const leaves = levels[levels.length - 1] ?? [];
  let min = Infinity;
  let max = 0;
  let sum = 0;
  for (const n of leaves) {
    const len = Buffer.byteLength(n.path.slice(n.path.lastIndexOf('/') + 1));
    min = Math.min(min, len);
    max = Math.max(max, len);
    sum += len;
  }
  return { min, max, avg: Math.round(sum / Math.max(1, leaves.length)) };
}

/** The slice of the `zookeeper` addon's promise API the loader uses. */
interface WriteZk {
  on(event: 'connect', cb: () => void): void;
  init(config: Record<string, unknown>): void;
  create(path: string, data: Buffer, flags: number): Promise<string>;
  delete_(path: string, version: number): Promise<void>;
  get_children(path: string, watch: boolean): Promise<string[]>;
  close(): void;
}
type WriteZkCtor = (new (config: Record<string, unknown>) => WriteZk) & { constants: Record<string, number> };

const codeOf = (err: unknown): number => Number.parseInt(String((err as Error)?.message ?? err), 10);
const ZNONODE = -101;
const ZNODEEXISTS = -110;

export async function openZk(servers: string): Promise<WriteZk> {
  const ZooKeeper = createRequire(import.meta.url)('zookeeper') as WriteZkCtor;
  const zk = new ZooKeeper({
    connect: servers,
    timeout: 30_000,
    debug_level: ZooKeeper.constants.ZOO_LOG_LEVEL_ERROR,
    host_order_deterministic: false,
    response_counter_limit: 1_000_000_000,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      zk.close(); // else the C client keeps reconnecting and holds the process open
      reject(new Error(`cannot connect to ZooKeeper at ${servers} within 15 s`));
    }, 15_000);
    let done = false;
    zk.on('connect', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve();
    });
    zk.init({});
  });
  return zk;
}

/** Runs fn over items with `inFlight` requests in flight on each of the connections. */
async function fanOut<T>(conns: WriteZk[], inFlight: number, items: readonly T[], fn: (zk: WriteZk, item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (zk: WriteZk): Promise<void> => {
    while (next < items.length) await fn(zk, items[next++] as T);
  };
  await Promise.all(conns.flatMap((zk) => Array.from({ length: inFlight }, () => lane(zk))));
}

/** Opens `n` sessions; if any fails, closes the others and throws. */
async function openAll(servers: string, n: number): Promise<WriteZk[]> {
  const opened = await Promise.allSettled(Array.from({ length: n }, () => openZk(servers)));
  const conns = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const zk of conns) zk.close();
    throw failed.reason;
  }
  return conns;
}

export interface LoadOptions {
  readonly servers: string;
  readonly connections: number;
  readonly inFlight: number;
}

/** Creates every node, one level at a time (parents before children), as persistent znodes. */
export async function loadTree(levels: Levels, opts: LoadOptions): Promise<void> {
  const conns = await openAll(opts.servers, opts.connections);
  try {
    for (const level of levels) {
      await fanOut(conns, opts.inFlight, level, async (zk, n) => {
        try {
          await zk.create(n.path, n.data, 0);
        } catch (err) {
          if (codeOf(err) !== ZNODEEXISTS) throw new Error(`create ${n.path.slice(0, 120)}: ${String(err)}`);
        }
      });
    }
  } finally {
    for (const zk of conns) zk.close();
  }
}

/** Deletes a subtree children first. Uses the known levels when given, else discovers them with get_children. */
export async function removeTree(root: string, opts: LoadOptions, known?: Levels): Promise<number> {
  const conns = await openAll(opts.servers, opts.connections);
  try {
    let levels: string[][] = known?.map((l) => l.map((n) => n.path)) ?? [];
    if (!known) {
      let frontier = [root];
      while (frontier.length > 0) {
        levels.push(frontier);
        const found: string[] = [];
        await fanOut(conns, opts.inFlight, frontier, async (zk, p) => {
          try {
            for (const c of await zk.get_children(p, false)) found.push(`${p}/${c}`);
          } catch (err) {
            if (codeOf(err) !== ZNONODE) throw err;
          }
        });
        frontier = found;
      }
    }
    levels = levels.filter((l) => l.length > 0);
    let deleted = 0;
    for (const level of [...levels].reverse()) {
      await fanOut(conns, opts.inFlight, level, async (zk, p) => {
        try {
          await zk.delete_(p, -1);
          deleted++;
        } catch (err) {
          if (codeOf(err) !== ZNONODE) throw new Error(`delete ${p.slice(0, 120)}: ${String(err)}`);
        }
      });
    }
    return deleted;
  } finally {
    for (const zk of conns) zk.close();
  }
}

export const freshRoot = (): string => `/bench-${randomBytes(4).toString('hex')}`;

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      size: { type: 'string', default: '70k' },
      root: { type: 'string' },
      instance: { type: 'string' },
      connections: { type: 'string', default: '4' },
      'in-flight': { type: 'string', default: '500' },
    },
  });
  const servers = serversFromEnv();
  const opts = { servers: servers.zk, connections: Number(values.connections), inFlight: Number(values['in-flight']) };
  const cmd = positionals[0];
  if (cmd === 'load') {
    const root = values.root ?? freshRoot();
    const shape = shapeFor(values.size);
    const levels = generateTree(root, shape);
    const total = levels.reduce((s, l) => s + l.length, 0);
    const t0 = performance.now();
    await loadTree(levels, opts);
    const secs = (performance.now() - t0) / 1000;
    console.log(`loaded ${total} znodes (expected ${nodeCount(shape)}) under ${root} in ${secs.toFixed(2)} s (${Math.round(total / secs)}/s); leaf names ${JSON.stringify(leafNameStats(levels))} bytes`);
  } else if (cmd === 'delete' && values.root) {
    const deleted = await removeTree(values.root, opts);
    const etcd = new Etcd3({ hosts: servers.etcd.split(',') });
    const keys = await deleteEtcdPrefix(etcd, values.root);
    etcd.close();
    if (values.instance) await deleteOwnership(servers.redis, values.instance);
    console.log(`deleted ${deleted} znodes and ${keys} etcd keys under ${values.root}`);
  } else {
    console.error('usage: generate.js load --size 10k|70k|300k|1m [--root R] | delete --root R [--instance I]');
    process.exit(2);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
