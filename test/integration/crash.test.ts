import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { etcdWriter } from '../../common/apply/etcd-writer.js';
import { etcd3Store } from '../../common/etcd/etcd3-store.js';
import { silentLogger } from '../../common/logger.js';
import { createMetrics } from '../../common/metrics.js';
import { ownershipHashKey, redisOwnershipStore } from '../../common/ownership/redis-store.js';
import type { Plan } from '../../common/plan/plan.js';
import { freshName, jsonReport, runCli, testEtcd, testRedis, testZk, cleanupRoot } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { isPendingValue } from '../../common/ownership/store.js';

/** SIGKILL at the crash points of the ownership order (SPEC §3): the next run repairs, never deleting what is not ours. */
describe('crash safety of the ownership order', () => {
  const name = freshName('crash');
  const root = `/${name}`;
  const hash = ownershipHashKey(name);
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const flags = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--output=json', '--max-delete=100%'];
  const records = async () => redis.hgetall(hash);

  before(async () => {
    zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
    for (let i = 0; i < 5; i++) nodes.push([`${root}/n${i}`, Buffer.from(`v${i}`)]);
    await zk.createAll(nodes);
    await etcd.put(`${root}/foreign`).value('another tool');
  });

  after(async () => {
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test('killed between the pending record and the etcd write: the next run writes, records and prunes', async () => {
    const killed = await runCli(['fix', ...flags], { ZK2ETCD_TEST_FAILPOINT: 'after-pending' });
    assert.equal(killed.code, -1, 'killed by SIGKILL');
    const pending = await records();
    assert.equal(Object.keys(pending).length, 6);
    assert.ok(Object.values(pending).every((v) => isPendingValue(v)));
    assert.equal(await etcd.get(`${root}/n0`).string(), null, 'nothing written after the record');

    await zk.remove(`${root}/n4`); // its pending record now points at a key that will never exist
    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonReport(r).applied.put, 5);
    const after = await records();
    assert.deepEqual(Object.keys(after).sort(), [root, ...[0, 1, 2, 3].map((i) => `${root}/n${i}`)].sort());
    const kvs = (await etcd.getAll().prefix(root).exec()).kvs;
    for (const kv of kvs) {
      const key = kv.key.toString();
      if (key === `${root}/foreign`) continue;
      assert.equal(after[key], kv.mod_revision, `record of ${key} is its write revision`);
    }
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'another tool');
  });

  test('killed between the etcd delete and removing the record: the stale record is pruned, a key re-created by another writer kept', async () => {
    await zk.remove(`${root}/n2`);
    await zk.remove(`${root}/n3`);
    const killed = await runCli(['fix', ...flags], { ZK2ETCD_TEST_FAILPOINT: 'after-delete-commit' });
    assert.equal(killed.code, -1, 'killed by SIGKILL');
    assert.equal(await etcd.get(`${root}/n2`).string(), null);
    assert.equal(await etcd.get(`${root}/n3`).string(), null);
    assert.ok((await records())[`${root}/n2`], 'record left behind by the crash');

    await etcd.put(`${root}/n3`).value('re-created by another tool');
    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonReport(r).counts.conflict, 1, 'the re-created key does not carry our revision: kept');
    assert.equal(await etcd.get(`${root}/n3`).string(), 're-created by another tool');
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'another tool');
    assert.equal(await redis.hexists(hash, `${root}/n2`), 0, 'stale record pruned');
    assert.equal(jsonReport(await runCli(['diff', ...flags])).inSync, true);
  });

  test('killed between the etcd write and recording its revision: the next fix records the revision it finds in sync', async () => {
    await zk.createAll([
      [`${root}/n5`, Buffer.from('v5')],
      [`${root}/n6`, Buffer.from([0x00, 0xff])],
    ]);
    await zk.set(`${root}/n0`, Buffer.from('v0 changed'));
    const written = [`${root}/n0`, `${root}/n5`, `${root}/n6`];
    const killed = await runCli(['fix', ...flags], { ZK2ETCD_TEST_FAILPOINT: 'after-put-commit' });
    assert.equal(killed.code, -1, 'killed by SIGKILL');
    assert.equal(await etcd.get(`${root}/n0`).string(), 'v0 changed', 'committed before the kill');
    for (const key of written) assert.ok(isPendingValue((await records())[key] ?? ''), `${key} left pending`);

    const diff = await runCli(['diff', ...flags]);
    assert.equal(jsonReport(diff).inSync, true, 'etcd already holds the writes');
    assert.ok(isPendingValue((await records())[`${root}/n5`] ?? ''), 'a diff changes no record');

    // A mark that young may be a write still in flight: settled only once it is old (15 minutes). Backdated.
    const young = await runCli(['fix', ...flags]);
    assert.equal(young.code, 0, young.stderr);
    for (const key of written) assert.ok(isPendingValue((await records())[key] ?? ''), `${key} still pending: it may be in flight`);
    for (const key of written) await redis.hset(hash, key, ((await records())[key] ?? '').replace(/^(pending:[0-9a-f]+\.\d+\.)\d+:/, '$11:'));

    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonReport(r).applied.put, 0, 'nothing left to write');
    const after = await records();
    for (const kv of (await etcd.getAll().prefix(root).exec()).kvs) {
      const key = kv.key.toString();
      if (key === `${root}/foreign` || key === `${root}/n3`) assert.equal(after[key] === kv.mod_revision, false, `${key} is not recorded at its revision`);
      else assert.equal(after[key], kv.mod_revision, `record of ${key} is its write revision`);
    }
    assert.equal(isPendingValue(after[`${root}/n3`] ?? ''), false);
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'another tool');
  });

  test('a mark a crash left proves ownership of one delete at most: what another tool writes under the key afterwards is kept', async () => {
    const key = `${root}/n7`;
    await zk.create(key, Buffer.from('v7'));
    const killed = await runCli(['fix', ...flags], { ZK2ETCD_TEST_FAILPOINT: 'after-pending' });
    assert.equal(killed.code, -1, 'killed by SIGKILL');
    assert.ok(isPendingValue((await records())[key] ?? ''), 'left pending by the crash');
    // The node goes, and another tool writes the key: the mark cannot tell that write from ours.
    await zk.remove(key);
    await etcd.put(key).value('another tool');
    const first = await runCli(['fix', ...flags]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(jsonReport(first).applied.delete, 1);
    assert.equal(await redis.hexists(hash, key), 0, 'the mark went with the delete');
    // The other tool writes it again: no record of ours now, so it is foreign and kept, run after run.
    await etcd.put(key).value('another tool, again');
    for (const run of [1, 2]) {
      const r = await runCli(['fix', ...flags]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(jsonReport(r).applied.delete, 0, `run ${run} deletes nothing`);
      assert.equal(await etcd.get(key).string(), 'another tool, again');
    }
    await etcd.delete().key(key);
  });

  test('settling a pending record never overrides a write that moved on: the record changed, or etcd changed since the plan', async () => {
    const store = redisOwnershipStore(redis, { instance: name, legacy: null });
    const writer = etcdWriter({ etcd: etcd3Store(etcd), ownership: store, metrics: createMetrics(), logger: silentLogger() });
    const keys = ['settles', 'recorded-meanwhile', 'rewritten-meanwhile', 'gone-meanwhile'].map((k) => `${root}/u-${k}`);
    const seen = new Map<string, string>();
    for (const key of keys) seen.set(key, String((await etcd.put(key).value('same').exec()).header.revision));
    await redis.hset(hash, ...keys.flatMap((k) => [k, 'pending']));
    // What another writer did between this run's snapshot and its apply:
    await redis.hset(hash, `${root}/u-recorded-meanwhile`, 'another revision');
    await etcd.put(`${root}/u-rewritten-meanwhile`).value('same');
    await etcd.delete().key(`${root}/u-gone-meanwhile`);

    const unsettled = keys.map((key) => ({ key, modRevision: seen.get(key) as string }));
    const empty: Plan = { missing: [], changed: [], extra: [], foreign: [], conflict: [], inSync: keys.length, staleRecords: new Map(), unsettled };
    const result = await writer.write(empty);
    assert.deepEqual(result, { put: 0, delete: 0, skipped: 0, skippedKeys: [], refusedKeys: [] });
    const after = await records();
    assert.equal(after[`${root}/u-settles`], seen.get(`${root}/u-settles`));
    assert.equal(after[`${root}/u-recorded-meanwhile`], 'another revision', 'a record no longer pending is left alone');
    assert.equal(after[`${root}/u-rewritten-meanwhile`], 'pending', 'etcd moved since it was seen in sync: left for the next run');
    assert.equal(after[`${root}/u-gone-meanwhile`], 'pending', 'gone from etcd: left for the next run to prune');
    await etcd.delete().prefix(`${root}/u-`);
    await redis.hdel(hash, ...keys);
  });
});
