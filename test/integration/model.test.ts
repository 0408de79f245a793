import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { privateEtcd, privateRedis, privateZk } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { assertMirrored, etcdDump, freshName, runCli, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';
import { prng } from '../helpers/prng.js';

/** Fails a step that takes longer than `ms` instead of hanging the suite. */
async function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms / 1000}s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const STEPS = Number(process.env.ZK2ETCD_MODEL_STEPS ?? 400);
/**
 * Seeds that once failed, run every time besides a random one. 767922657: changes queued before a lost
 * session were applied after the rebuild's reconcile had read, putting back nodes deleted meanwhile.
 */
const REGRESSION_SEEDS = [767922657];
const SEEDS = process.env.ZK2ETCD_MODEL_SEED ? [Number(process.env.ZK2ETCD_MODEL_SEED)] : [Math.floor(Math.random() * 2 ** 31), ...REGRESSION_SEEDS];

for (const SEED of SEEDS) describe(`model test (seed ${SEED}; replay with ZK2ETCD_MODEL_SEED=${SEED})`, () => {
  const name = freshName('model');
  const root = `/${name}`;
  const rand = prng(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  let zkServer: PrivateServer;
  let etcdServer: PrivateServer;
  let redisServer: PrivateServer;
  let zk: TestZk;
  let etcd: Etcd3;
  let watcher: WatcherProcess;
  const foreign = new Map<string, string>();
  const env = () => ({ ZK2ETCD_ZOOKEEPER_SERVERS: zkServer.address, ZK2ETCD_ETCD_SERVERS: etcdServer.address, ZK2ETCD_REDIS_SERVER: redisServer.address });
  const watcherArgs = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--zookeeper-session-timeout=2s', '--max-delete=100%'];
  const log: string[] = [];

  before(async () => {
    [zkServer, etcdServer, redisServer] = await Promise.all([privateZk(), privateEtcd(), privateRedis()]);
    await Promise.all([zkServer.start(), etcdServer.start(), redisServer.start()]);
    zk = await testZk(zkServer.address);
    await zk.create(root, Buffer.from('root'));
    etcd = new Etcd3({ hosts: etcdServer.address });
    watcher = await startWatcher(watcherArgs, env());
    await waitForLog(watcher, 'full reconcile done');
  });

  after(async () => {
    await watcher?.stop();
    zk?.close();
    etcd?.close();
    await Promise.all([zkServer?.cleanup(), etcdServer?.cleanup(), redisServer?.cleanup()]);
  });

  /** The ZooKeeper side of the model: paths we created, so operations pick real nodes. */
  const live = new Set<string>([root]);
  const randomData = () => (rand() < 0.3 ? Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256))) : Buffer.from(`v${Math.floor(rand() * 1e6)}`));
  const zkOp = async (): Promise<void> => {
    const paths = [...live];
    const r = rand();
    const target = pick(paths);
    if (r < 0.4) {
      let path = `${target}/n${Math.floor(rand() * 50)}`;
      const depth = rand() < 0.1 ? 6 : 1; // now and then a deep subtree in one burst
      for (let d = 0; d < depth; d++) {
        if (live.has(path) || path.split('/').length > 12) break;
        await zk.create(path, randomData()).catch(() => {});
        live.add(path);
        path = `${path}/n${d}`;
      }
    } else if (r < 0.7) {
      await zk.set(target, randomData()).catch(() => {});
    } else if (target !== root) {
      await zk.removeTree(target);
      for (const p of paths) if (p === target || p.startsWith(`${target}/`)) live.delete(p);
    }
  };

  const faults: Record<string, () => Promise<void>> = {
    'redis down and back': async () => {
      await redisServer.kill();
      for (let i = 0; i < 5; i++) await zkOp();
      await sleep(500);
      await redisServer.start();
    },
    'etcd down and back': async () => {
      await etcdServer.kill();
      for (let i = 0; i < 5; i++) await zkOp();
      await sleep(500);
      await etcdServer.start();
    },
    'zookeeper restarted': async () => {
      await zkServer.kill();
      // Writes sent while the server is down: each fails or lands once it is back; the invariant is checked
      // against what ZooKeeper really holds. (Chosen up front, so the PRNG sequence does not depend on timing.)
      const racing: Promise<unknown>[] = [];
      for (let i = 0; i < 3; i++) {
        const target = pick([...live]);
        if (rand() < 0.5) {
          racing.push(zk.set(target, randomData()).catch(() => {}));
        } else {
          const path = `${target}/r${Math.floor(rand() * 20)}`;
          if (live.has(path) || path.split('/').length > 12) continue;
          live.add(path);
          racing.push(zk.create(path, randomData()).catch(() => {}));
        }
      }
      await sleep(Math.floor(rand() * 1500));
      await zkServer.start();
      await Promise.all(racing);
      for (let i = 0; i < 5; i++) await zkOp();
    },
    'watcher session expired': async () => {
      watcher.child.kill('SIGSTOP');
      await sleep(3500);
      for (let i = 0; i < 3; i++) await zkOp();
      watcher.child.kill('SIGCONT');
    },
    'watcher killed and restarted': async () => {
      watcher.child.kill('SIGKILL');
      await watcher.exited;
      for (let i = 0; i < 3; i++) await zkOp();
      watcher = await startWatcher(watcherArgs, env());
    },
    'one-shot fix killed at a failpoint': async () => {
      const point = pick(['after-pending', 'after-put-commit', 'after-delete-commit']);
      await runCli(['fix', ...watcherArgs], { ...env(), ZK2ETCD_TEST_FAILPOINT: point });
    },
  };

  test(`${STEPS} random operations with faults and a foreign writer converge`, async (t) => {
    t.diagnostic(`seed ${SEED}`);
    try {
      for (let step = 0; step < STEPS; step++) {
        if (process.env.ZK2ETCD_MODEL_TRACE) process.stderr.write(`[model] step ${step}\n`);
        const r = rand();
        if (r < 0.03) {
          const fault = pick(Object.keys(faults));
          log.push(`${step}: fault ${fault}`);
          if (process.env.ZK2ETCD_MODEL_TRACE) process.stderr.write(`[model] ${step}: ${fault}\n`);
          await bounded(`step ${step} (${fault})`, 120_000, (faults[fault] as () => Promise<void>)());
        } else if (r < 0.1) {
          const key = `${root}/foreign-${Math.floor(rand() * 20)}`;
          const value = `f${step}`;
          await bounded(`step ${step} (foreign put)`, 30_000, etcd.put(key).value(value).catch(() => {}));
          foreign.set(key, value);
        } else {
          await bounded(`step ${step} (zookeeper op)`, 30_000, zkOp());
        }
      }
      // Quiescence: everything up, one reconcile to prune what crashes left, then the invariant.
      log.push('quiesce');
      if (process.env.ZK2ETCD_MODEL_TRACE) process.stderr.write('[model] quiesce\n');
      await Promise.all([redisServer.start().catch(() => {}), etcdServer.start().catch(() => {})]);
      assert.equal(watcher.child.exitCode, null, 'the watcher is still running');
      const foreignKeys = [...foreign.keys()];
      await eventually(() => assertMirrored(etcd, root, foreignKeys, zkServer.address), 90_000, 500);
      const fix = await runCli(['fix', ...watcherArgs, '--output=json'], env());
      assert.equal(fix.code, 0, fix.stderr);
      await assertMirrored(etcd, root, foreignKeys, zkServer.address);
      for (const [key, value] of foreign) assert.equal(await etcd.get(key).string(), value, `foreign ${key} unchanged`);
      const redis = new Redis(Number(redisServer.address.split(':')[1]), '127.0.0.1');
      try {
        const records = await redis.hgetall(ownershipHashKey(name));
        const dump = await etcdDump(etcd, root);
        const revisions = new Map((await etcd.getAll().prefix(root).exec()).kvs.map((kv) => [kv.key.toString(), kv.mod_revision]));
        const ours = [...dump.keys()].filter((k) => !foreign.has(k)).sort();
        assert.deepEqual(Object.keys(records).sort(), ours, 'records exactly cover the mirrored keys');
        for (const key of ours) assert.equal(records[key], revisions.get(key), `record of ${key} is its mod revision`);
      } finally {
        redis.disconnect();
      }
    } catch (err) {
      const tail = watcher.output().split('\n').filter((l) => !l.includes('"level":"info"')).slice(-15).join('\n');
      throw new Error(`model test failed with seed ${SEED} (replay: ZK2ETCD_MODEL_SEED=${SEED}); steps: ${log.join('; ')}: ${(err as Error).message}\nwatcher log (warnings and errors, last 15):\n${tail}`, { cause: err });
    }
  });
});
