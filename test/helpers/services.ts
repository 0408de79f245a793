import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { loadConfig } from '../../common/config/load.js';
import type { Command, Config } from '../../common/config/types.js';
import { spawnClean } from './spawn-clean.js';

/** Addresses of the loopback servers started by scripts/services.sh. */
export const servers = {
  zk: process.env.ZK2ETCD_ZOOKEEPER_SERVERS ?? '127.0.0.1:22181',
  etcd: process.env.ZK2ETCD_ETCD_SERVERS ?? 'http://127.0.0.1:22379',
  redis: process.env.ZK2ETCD_REDIS_SERVER ?? '127.0.0.1:26379',
  pushgateway: process.env.ZK2ETCD_PUSHGATEWAY_URL ?? 'http://127.0.0.1:29091',
};

/** A fresh prefix per test file, so files never see each other's data. */
export function freshName(label: string): string {
  return `it-${label}-${randomBytes(4).toString('hex')}`;
}

const require = createRequire(import.meta.url);
interface RawZk {
  on(ev: string, cb: () => void): void;
  init(c: object): void;
  create(path: string, data: Buffer | null, flags: number): Promise<string>;
  set(path: string, data: Buffer, version: number): Promise<unknown>;
  delete_(path: string, version: number): Promise<unknown>;
  get_children(path: string, watch: boolean): Promise<string[]>;
  exists(path: string, watch: boolean): Promise<{ mzxid: number; pzxid: number } | null>;
  close(): void;
}

/** A test-side ZooKeeper session for arranging trees (the product's reader is read-only). */
export interface TestZk {
  create(path: string, data?: Buffer, ephemeral?: boolean): Promise<void>;
  set(path: string, data: Buffer): Promise<void>;
  remove(path: string): Promise<void>;
  /** Creates many nodes, parents first (sorted by depth), `inFlight` at a time. */
  createAll(nodes: Iterable<[string, Buffer]>, inFlight?: number): Promise<void>;
  /** Deletes a subtree, children first. */
  removeTree(path: string): Promise<void>;
  children(path: string): Promise<string[]>;
  /** The node's zxids (null: absent): mzxid its last create or set, pzxid its last child create or delete. */
  zxids(path: string): Promise<{ mzxid: number; pzxid: number } | null>;
  close(): void;
}

/** Deletes a subtree children first, through any addon session (a missing node is already gone). */
export async function removeZkTree(zk: Pick<RawZk, 'get_children' | 'delete_'>, path: string): Promise<void> {
  let children: string[];
  try {
    children = await zk.get_children(path, false);
  } catch {
    return;
  }
  await Promise.all(children.map((c) => removeZkTree(zk, `${path}/${c}`)));
  await zk.delete_(path, -1).catch(() => {});
}

type ZkCtor = { new (c: object): RawZk; constants: Record<string, number> };

/** Opens one addon session; resolves once connected. */
async function openTestSession(ZooKeeper: ZkCtor, connectTo: string): Promise<RawZk> {
  const zk = new ZooKeeper({ connect: connectTo, timeout: 20000, debug_level: 0, host_order_deterministic: false, response_counter_limit: 1_000_000_000 });
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      zk.close();
      reject(new Error(`test ZooKeeper client: no connection to ${connectTo} within 20s`));
    }, 20_000);
    zk.on('connect', () => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        resolve();
      }
    });
    zk.init({});
  });
  return zk;
}

/**
 * A test-side session that survives its own expiry: the addon closes a handle whose session expired (a
 * server down for longer than the session timeout, e.g. a slow restart) and fails every later call, so the
 * next call opens a new session, as an application would. Ephemeral nodes die with the old session.
 */
export async function testZk(connectTo: string = servers.zk): Promise<TestZk> {
  const ZooKeeper = require('zookeeper') as ZkCtor;
  let closedByUs = false;
  let current: Promise<RawZk> | null = null;
  const open = (): Promise<RawZk> => {
    const opening = openTestSession(ZooKeeper, connectTo).then((zk) => {
      zk.on('close', () => {
        if (current === opening) current = null; // expired: the next call reopens
      });
      return zk;
    });
    current = opening;
    opening.catch(() => {
      if (current === opening) current = null;
    });
    return opening;
  };
  await open();
  const session = (): Promise<RawZk> => {
    if (closedByUs) return Promise.reject(new Error('test ZooKeeper client closed'));
    return current ?? open();
  };
  const EPHEMERAL = ZooKeeper.constants.ZOO_EPHEMERAL as number;
  const api: TestZk = {
    async create(path, data = Buffer.alloc(0), ephemeral = false) {
      await (await session()).create(path, data, ephemeral ? EPHEMERAL : 0);
    },
    async set(path, data) {
      await (await session()).set(path, data, -1);
    },
    async remove(path) {
      await (await session()).delete_(path, -1);
    },
    async createAll(nodes, inFlight = 200) {
      const byDepth = new Map<number, [string, Buffer][]>();
      for (const n of nodes) {
        const d = n[0].split('/').length;
        byDepth.set(d, [...(byDepth.get(d) ?? []), n]);
      }
      for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
        const level = byDepth.get(depth) ?? [];
        let i = 0;
        await Promise.all(
          Array.from({ length: inFlight }, async () => {
            while (i < level.length) {
              const [p, d] = level[i++] as [string, Buffer];
              await (await session()).create(p, d, 0);
            }
          }),
        );
      }
    },
    removeTree: async (path) => removeZkTree(await session(), path),
    children: async (path) => (await session()).get_children(path, false),
    async zxids(path) {
      // The addon rejects with "-101 no node" for an absent node.
      const stat = await (await session()).exists(path, false).catch((err: Error) => (err.message.startsWith('-101 ') ? null : Promise.reject(err)));
      return stat === null ? null : { mzxid: stat.mzxid, pzxid: stat.pzxid };
    },
    close: () => {
      closedByUs = true;
      const last = current;
      current = null;
      void last?.then((zk) => zk.close(), () => {});
    },
  };
  return api;
}

/** A loaded config for an in-process run against the test servers. */
export function testConfig(command: Command, argv: readonly string[]): Config {
  return loadConfig({ command, argv, env: { ZK2ETCD_ZOOKEEPER_SERVERS: servers.zk, ZK2ETCD_ETCD_SERVERS: servers.etcd, ZK2ETCD_REDIS_SERVER: servers.redis } });
}

export function testEtcd(): Etcd3 {
  return new Etcd3({ hosts: servers.etcd, grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 } });
}

export function testRedis(): Redis {
  const [host, port] = servers.redis.split(':');
  return new Redis(Number(port), host as string, { maxRetriesPerRequest: 2 });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The shipped CLI: the bundle `npm run build` makes (scripts/bundle.mjs), as the image runs it. */
export const CLI_BIN = fileURLToPath(new URL('../../cli/zk2etcd.js', import.meta.url));

/** Runs the real CLI as a child process. Server flags come from the environment unless overridden. */
export function runCli(args: readonly string[], env: Record<string, string> = {}, onSpawn?: (child: ChildProcess) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnClean(process.execPath, [CLI_BIN, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        ZK2ETCD_ZOOKEEPER_SERVERS: servers.zk,
        ZK2ETCD_ETCD_SERVERS: servers.etcd,
        ZK2ETCD_REDIS_SERVER: servers.redis,
        ZK2ETCD_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Parses the one-line `--output json` report. */
export function jsonReport(r: CliResult): Record<string, any> {
  try {
    return JSON.parse(r.stdout) as Record<string, any>;
  } catch {
    throw new Error(`no JSON report (exit ${r.code}); stdout: ${r.stdout}; stderr: ${r.stderr}`);
  }
}

/** Every etcd key (and value) under `prefix` (a raw string prefix: tests use unique roots). */
export async function etcdDump(etcd: Etcd3, prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const res = await etcd.getAll().prefix(prefix).buffers();
  for (const [k, v] of Object.entries(res)) out.set(k, v);
  return out;
}

/** Every znode under `root` (data by path), read with the product's own walk. */
export async function zkDump(root: string, zkAddress: string = servers.zk): Promise<Map<string, Buffer>> {
  const { connectZk } = await import('../../common/zk/addon-client.js');
  const { walkTree } = await import('../../common/zk/walk.js');
  const { silentLogger } = await import('../../common/logger.js');
  const zk = await connectZk({ servers: [zkAddress], sessionTimeoutMs: 10_000, auth: null, logger: silentLogger() });
  try {
    return await walkTree(zk, { prefixes: [root], excludes: [], skipEphemeral: false, allowEmptySource: true, concurrency: 50, keyOf: (p) => p });
  } finally {
    zk.close();
  }
}

/** Asserts etcd under `root` (the key and `root/...`) equals the ZooKeeper tree, byte for byte. */
export async function assertMirrored(etcd: Etcd3, root: string, foreign: readonly string[] = [], zkAddress: string = servers.zk): Promise<void> {
  const [want, got] = await Promise.all([zkDump(root, zkAddress), etcdDump(etcd, root)]);
  for (const key of [...got.keys()]) if ((key !== root && !key.startsWith(`${root}/`)) || foreign.includes(key)) got.delete(key);
  const missing = [...want.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !want.has(k));
  const differ = [...want.keys()].filter((k) => got.has(k) && !(got.get(k) as Buffer).equals(want.get(k) as Buffer));
  if (missing.length + extra.length + differ.length > 0) {
    throw new Error(`etcd differs from ZooKeeper under ${root}: missing ${missing.length} ${missing.slice(0, 3).join(' ')}; extra ${extra.length} ${extra.slice(0, 3).join(' ')}; changed ${differ.length} ${differ.slice(0, 3).join(' ')}`);
  }
}

/** Removes what a test file made under its fresh root (znodes, etcd keys, ownership hash) and closes its clients. */
export async function cleanupRoot(c: { zk: TestZk; etcd: Etcd3; redis: Redis; root: string; instance: string }): Promise<void> {
  await c.zk.removeTree(c.root);
  c.zk.close();
  await c.etcd.delete().prefix(c.root);
  await c.redis.del(`zk2etcd:{${c.instance}}:owned`);
  c.etcd.close();
  c.redis.disconnect();
}
