import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EtcdError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { createMetrics } from '../../common/metrics.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import type { EtcdStore } from '../../common/etcd/store.js';
import type { ZkReader } from '../../common/zk/reader.js';
import { openClients } from '../../functions/clients.js';
import type { OpenClients } from '../../functions/clients.js';
import { diff, fix } from '../../functions/handlers.js';
import { freshName, testEtcd, testRedis, testZk, cleanupRoot, testConfig } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { isPendingValue } from '../../common/ownership/store.js';

/** Races between our read and our write, injected at exact points around real servers. */
describe('reconcile under concurrent writers', () => {
  const name = freshName('races');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  const hash = ownershipHashKey(name);
  let zk: TestZk;
  let clients: OpenClients;
  const config = testConfig('fix', [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`]);
  const ctx = () => ({ metrics: createMetrics(), logger: silentLogger() });

  before(async () => {
    zk = await testZk();
    await zk.createAll([[root, Buffer.alloc(0)], [`${root}/a`, Buffer.from('A')], [`${root}/b`, Buffer.from('B')], [`${root}/c`, Buffer.from('C')]]);
    clients = await openClients(config, createMetrics(), silentLogger());
  });

  after(async () => {
    await clients.close();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test('a difference that resolves itself before confirmation is not reported', async () => {
    await etcd.put(root).value('');
    await etcd.put(`${root}/b`).value('B');
    await etcd.put(`${root}/c`).value('C');
    // Another writer creates /a (with ZooKeeper's bytes) right after our walk reads it.
    const zkRacing: ZkReader = {
      get: async (path) => {
        const node = await clients.zk.get(path);
        if (path === `${root}/a`) await etcd.put(`${root}/a`).value('A');
        return node;
      },
      children: (path) => clients.zk.children(path),
    };
    const report = await diff(config, { ...clients, zk: zkRacing }, ctx());
    assert.equal(report.inSync, true);
    assert.deepEqual(report.missing, []);
    assert.equal(report.counts.foreign, 0);
    await etcd.delete().prefix(root);
  });

  test('a node deleted from ZooKeeper right after the walk is not created', async () => {
    const zkRacing: ZkReader = {
      get: async (path) => {
        const node = await clients.zk.get(path);
        if (path === `${root}/c`) await zk.remove(`${root}/c`);
        return node;
      },
      children: (path) => clients.zk.children(path),
    };
    const report = await fix(config, { ...clients, zk: zkRacing }, ctx());
    assert.deepEqual(report.applied, { put: 3, delete: 0, skipped: 0 });
    assert.equal(await etcd.get(`${root}/c`).string(), null);
    assert.equal(await etcd.get(`${root}/a`).string(), 'A');
    await zk.create(`${root}/c`, Buffer.from('C'));
    await etcd.delete().prefix(root);
    await redis.del(hash);
  });

  test('a write whose condition another writer broke is skipped, and leaves no ownership record', async () => {
    // Someone else creates /b between our confirmation read and our transaction.
    let first = true;
    const etcdRacing: EtcdStore = {
      snapshot: (r, p) => clients.etcd.snapshot(r, p),
      getMany: (k) => clients.etcd.getMany(k),
      commit: async (ops, fence) => {
        if (first) {
          first = false;
          await etcd.put(`${root}/b`).value('theirs');
        }
        return clients.etcd.commit(ops, fence);
      },
    };
    const report = await fix(config, { ...clients, etcd: etcdRacing }, ctx());
    assert.deepEqual(report.applied, { put: 3, delete: 0, skipped: 1 });
    assert.equal(await etcd.get(`${root}/b`).string(), 'theirs');
    assert.equal(await etcd.get(`${root}/a`).string(), 'A');
    assert.equal(await redis.hexists(hash, `${root}/b`), 0, 'pending record rolled back');
    assert.equal(isPendingValue((await redis.hget(hash, `${root}/a`)) ?? ''), false);
    await etcd.delete().prefix(root);
    await redis.del(hash);
  });

  test('a transaction that committed but whose reply was lost is retried idempotently', async () => {
    let first = true;
    const etcdLossy: EtcdStore = {
      snapshot: (r, p) => clients.etcd.snapshot(r, p),
      getMany: (k) => clients.etcd.getMany(k),
      commit: async (ops, fence) => {
        const outcome = await clients.etcd.commit(ops, fence);
        if (first) {
          first = false;
          throw new EtcdError('txn', 'etcd txn failed: connection reset (simulated lost reply)', true, 'unavailable');
        }
        return outcome;
      },
    };
    const report = await fix(config, { ...clients, etcd: etcdLossy }, ctx());
    assert.deepEqual(report.applied, { put: 4, delete: 0, skipped: 0 });
    const kvs = await etcd.getAll().prefix(root).exec();
    assert.equal(kvs.kvs.length, 4);
    for (const kv of kvs.kvs) assert.equal(await redis.hget(hash, kv.key.toString()), kv.mod_revision, `record of ${kv.key}`);
  });
});
