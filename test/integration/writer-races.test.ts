import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { etcdWriter } from '../../common/apply/etcd-writer.js';
import { etcd3Store } from '../../common/etcd/etcd3-store.js';
import type { EtcdStore } from '../../common/etcd/store.js';
import { EtcdError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { createMetrics } from '../../common/metrics.js';
import { ownershipHashKey, redisOwnershipStore } from '../../common/ownership/redis-store.js';
import type { Plan } from '../../common/plan/plan.js';
import { freshName, testEtcd, testRedis } from '../helpers/services.js';

const EMPTY: Plan = { missing: [], changed: [], extra: [], foreign: [], conflict: [], inSync: 0, staleRecords: new Map(), unsettled: [] };

/**
 * The writer against real etcd and Redis, with another writer's transaction placed exactly between our
 * plan and our commit. Our bytes found in etcd after a failed condition are ours only if an earlier
 * attempt of ours may have committed them (SPEC §1: never delete a key we did not write).
 */
describe('etcd writer: a failed condition and who wrote the bytes found', () => {
  const name = freshName('writer-races');
  const root = `/${name}`;
  const hash = ownershipHashKey(name);
  const etcd = testEtcd();
  const redis = testRedis();
  const real = etcd3Store(etcd);
  const store = redisOwnershipStore(redis, { instance: name, legacy: null });

  after(async () => {
    await etcd.delete().prefix(root);
    await redis.del(hash);
    etcd.close();
    redis.disconnect();
  });

  /** Our writer over `etcdStore`, recording in this file's instance. */
  const writerOver = (etcdStore: EtcdStore) => etcdWriter({ etcd: etcdStore, ownership: store, metrics: createMetrics(), logger: silentLogger() });
  /** Another writer's put of the ZooKeeper bytes; its revision. */
  const theirPut = async (key: string): Promise<string> => String((await etcd.put(key).value('zk bytes').exec()).header.revision);

  /** What `metrics` counted: puts and deletes applied and fixed, and conflicts. */
  async function counted(metrics: ReturnType<typeof createMetrics>): Promise<{ applied: number; fixed: number; conflicts: number }> {
    const sum = async (c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> => (await c.get()).values.reduce((n, v) => n + v.value, 0);
    return { applied: await sum(metrics.applied), fixed: await sum(metrics.fixed), conflicts: await sum(metrics.conflicts) };
  }

  /** A store whose first commit runs `before`, then the real commit, then `afterCommit`. */
  function storeWith(hooks: { before?: () => Promise<void>; afterCommit?: () => never }): EtcdStore {
    let first = true;
    return {
      ...real,
      commit: async (ops, fence) => {
        if (!first) return real.commit(ops, fence);
        first = false;
        await hooks.before?.();
        const outcome = await real.commit(ops, fence);
        if (hooks.afterCommit) hooks.afterCommit();
        return outcome;
      },
    };
  }

  const cases = [
    { name: 'a key created by another writer with our bytes', kind: 'missing' as const, previous: null },
    { name: 'a key of ours rewritten by another writer with our new bytes', kind: 'changed' as const, previous: 'ours' as const },
  ];
  for (const c of cases) {
    test(`${c.name}, first attempt: skipped, its record put back, reported`, async () => {
      const key = `${root}/${c.kind}-race`;
      let expect: Plan['missing'][number]['expect'] = { absent: true };
      if (c.previous === 'ours') {
        const rev = String((await etcd.put(key).value('old').exec()).header.revision);
        await redis.hset(hash, key, rev);
        expect = { modRevision: rev };
      }
      const before = await redis.hget(hash, key);
      let theirs = '';
      const writer = writerOver(storeWith({ before: async () => void (theirs = await theirPut(key)) }));
      const action = { key, value: Buffer.from('zk bytes'), expect };
      const result = await writer.write({ ...EMPTY, [c.kind]: [action] });
      assert.deepEqual(result, { put: 0, delete: 0, skipped: 1, skippedKeys: [key], refusedKeys: [] });
      const kv = (await etcd.get(key).exec()).kvs[0];
      assert.equal(kv?.mod_revision, theirs, 'the other writer\'s put is what etcd holds');
      assert.equal(await redis.hget(hash, key), before, 'the record is what it was before: never the other writer\'s revision');
    });
  }

  test('our earlier attempt committed, its reply lost (an error, then a retry): the bytes found are recorded as ours', async () => {
    const key = `${root}/reply-lost`;
    const lost = new EtcdError('txn', 'deadline exceeded (test: committed, reply lost)', true, 'deadline_exceeded');
    const writer = writerOver(storeWith({ afterCommit: () => { throw lost; } }));
    const result = await writer.write({ ...EMPTY, missing: [{ key, value: Buffer.from('zk bytes'), expect: { absent: true } }] });
    assert.deepEqual(result, { put: 1, delete: 0, skipped: 0, skippedKeys: [], refusedKeys: [] });
    const kv = (await etcd.get(key).exec()).kvs[0];
    assert.equal(kv?.value.toString(), 'zk bytes');
    assert.equal(await redis.hget(hash, key), kv?.mod_revision, 'recorded at the revision our lost attempt committed');
  });

  test('a write of this instance got there first (its revision recorded before our mark): ours, not skipped', async () => {
    const key = `${root}/ours-first`;
    // The watcher's event applied and recorded the key after its full reconcile planned it as missing.
    const rev = String((await etcd.put(key).value('zk bytes').exec()).header.revision);
    await redis.hset(hash, key, rev);
    const metrics = createMetrics();
    const writer = etcdWriter({ etcd: real, ownership: store, metrics, logger: silentLogger() });
    const result = await writer.write({ ...EMPTY, missing: [{ key, value: Buffer.from('zk bytes'), expect: { absent: true } }] });
    // The other write committed and counted the put: not counted again here, nor skipped.
    assert.deepEqual(result, { put: 0, delete: 0, skipped: 0, skippedKeys: [], refusedKeys: [] });
    assert.deepEqual(await counted(metrics), { applied: 0, fixed: 0, conflicts: 0 });
    assert.equal(await redis.hget(hash, key), rev);
  });

  test('two writes of this instance put the same bytes at once (the watcher and the CronJob): the record ends at the winner\'s revision', async () => {
    const key = `${root}/both-ours`;
    const watcherStore = redisOwnershipStore(redis, { instance: name, legacy: null });
    let theirs = '';
    // The watcher marked the key before us, and commits between our mark and our commit.
    const writer = writerOver(storeWith({ before: async () => void (theirs = await theirPut(key)) }));
    const watcherMarks = await watcherStore.markPending([key]);
    const result = await writer.write({ ...EMPTY, missing: [{ key, value: Buffer.from('zk bytes'), expect: { absent: true } }] });
    // Not yet recorded by the watcher when we looked: our write steps back (reported), its layer gone.
    assert.equal(result.skipped, 1);
    assert.equal(await redis.hget(hash, key), `pending:${watcherMarks.token}:`);
    assert.equal(await watcherStore.recordRevision(watcherMarks, new Map([[key, null]]), theirs), 0);
    assert.equal(await redis.hget(hash, key), theirs, "the watcher's record of its own commit");
  });

  test('three writers: two of this instance marked a key, another tool put the same bytes; both give up, and nothing claims its value', async () => {
    const key = `${root}/three-writers`;
    const rev = String((await etcd.put(key).value('old').exec()).header.revision);
    await redis.hset(hash, key, rev);
    const watcherStore = redisOwnershipStore(redis, { instance: name, legacy: null });
    const watcherMarks = await watcherStore.markPending([key]); // the watcher, whose write then fails too
    let theirs = '';
    const writer = writerOver(storeWith({
      before: async () => {
        theirs = await theirPut(key); // another tool, same bytes
        await watcherStore.restore(watcherMarks, [key]); // the watcher's condition failed: it stepped back
      },
    }));
    const result = await writer.write({ ...EMPTY, changed: [{ key, value: Buffer.from('zk bytes'), expect: { modRevision: rev } }] });
    assert.equal(result.skipped, 1);
    assert.equal(await redis.hget(hash, key), rev, 'our old revision: a conflict now, never the other tool\'s revision');
    assert.notEqual(rev, theirs);
  });

  test('a delete finding the key already gone: done, its record forgotten, not counted (another writer deleted it)', async () => {
    const key = `${root}/gone`;
    const rev = String((await etcd.put(key).value('v').exec()).header.revision);
    await redis.hset(hash, key, rev);
    const metrics = createMetrics();
    const writer = etcdWriter({ etcd: storeWith({ before: async () => void (await etcd.delete().key(key)) }), ownership: store, metrics, logger: silentLogger() });
    const result = await writer.write({ ...EMPTY, extra: [{ key, modRevision: rev }] });
    assert.deepEqual(result, { put: 0, delete: 0, skipped: 0, skippedKeys: [], refusedKeys: [] });
    assert.deepEqual(await counted(metrics), { applied: 0, fixed: 0, conflicts: 0 });
    assert.equal(await redis.hget(hash, key), null);
  });

  test('a delete whose first attempt failed with an error and found the key gone: counted (that attempt may have deleted it)', async () => {
    const key = `${root}/gone-unknown`;
    const rev = String((await etcd.put(key).value('v').exec()).header.revision);
    await redis.hset(hash, key, rev);
    const lost = new EtcdError('txn', 'deadline exceeded (test: committed, reply lost)', true, 'deadline_exceeded');
    const metrics = createMetrics();
    const writer = etcdWriter({ etcd: storeWith({ afterCommit: () => { throw lost; } }), ownership: store, metrics, logger: silentLogger() });
    const result = await writer.write({ ...EMPTY, extra: [{ key, modRevision: rev }] });
    assert.deepEqual(result, { put: 0, delete: 1, skipped: 0, skippedKeys: [], refusedKeys: [] });
    assert.deepEqual(await counted(metrics), { applied: 1, fixed: 1, conflicts: 0 });
    assert.equal(await redis.hget(hash, key), null);
    assert.equal((await etcd.get(key).exec()).kvs.length, 0);
  });
});
