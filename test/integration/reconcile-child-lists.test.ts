import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import { createMetrics } from '../../common/metrics.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { isBatchReader, type BatchRead, type ZkBatchReader, type ZkReader } from '../../common/zk/reader.js';
import { openClients, type OpenClients } from '../../functions/clients.js';
import { fix } from '../../functions/handlers.js';
import { assertMirrored, cleanupRoot, freshName, testEtcd, testRedis, testZk, type TestZk, testConfig } from '../helpers/services.js';

/**
 * The confirmation keeps a parent's child list from the walk while the parent's stamp (pzxid, cversion)
 * is unchanged, and reads the list again once it moved. The races run at the confirmation's first read
 * of the parent, on both clients: the protocol client (multiRead) and the addon (one request per node).
 */

/**
 * Counts child-list reads per path, and runs `race` once: at the first read of `at` after `armedBy` was
 * read, holding every other read until it is done.
 */
function racingReader(inner: ZkReader, race?: { armedBy: string; at: string; run: () => Promise<void> }) {
  const listReads = new Map<string, number>();
  let armed = false;
  let fired = false;
  // While the race runs every other read waits: the change lands before any read that comes after the trigger.
  let racing: Promise<void> | null = null;
  const see = async (op: BatchRead): Promise<void> => {
    if (racing) await racing;
    if (op.kind === 'children') listReads.set(op.path, (listReads.get(op.path) ?? 0) + 1);
    if (!race) return;
    if (op.kind === 'data' && op.path === race.armedBy) armed = true;
    else if (armed && !fired && op.path === race.at) {
      fired = true;
      racing = race.run();
      try {
        await racing;
      } finally {
        racing = null; // a failed race fails this read only, not every read after it
      }
    }
  };
  const reader: ZkReader = {
    get: async (path) => (await see({ kind: 'data', path }), inner.get(path)),
    children: async (path) => (await see({ kind: 'children', path }), inner.children(path)),
  };
  if (isBatchReader(inner)) {
    const batch: ZkBatchReader = {
      ...reader,
      batchReads: true,
      maxBatchReplyBytes: inner.maxBatchReplyBytes,
      readMany: async (ops) => {
        for (const op of ops) await see(op);
        return inner.readMany(ops);
      },
    };
    return { reader: batch, listReads: (path: string) => listReads.get(path) ?? 0, fired: () => fired };
  }
  return { reader, listReads: (path: string) => listReads.get(path) ?? 0, fired: () => fired };
}

for (const mode of ['auto', 'off'] as const) {
  describe(`confirmation by child-list stamps (${mode === 'auto' ? 'protocol client' : 'addon client'})`, () => {
    const name = freshName(`stamps-${mode}`);
    const root = `/${name}`;
    const etcd = testEtcd();
    const redis = testRedis();
    let zk: TestZk;
    let clients: OpenClients;
    const config = testConfig('fix', [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, `--zookeeper-fast-path=${mode}`, '--max-delete=100%']);
    const ctx = () => ({ metrics: createMetrics(), logger: silentLogger() });
    // 300 parents: enough that the layout stops at the root's children and each is walked in a chunk.
    const parent = (i: number) => `${root}/p${String(i).padStart(3, '0')}`;

    before(async () => {
      zk = await testZk();
      const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
      for (let i = 0; i < 300; i++) {
        nodes.push([parent(i), Buffer.from(`parent ${i}`)]);
        for (const leaf of ['a', 'b', 'c']) nodes.push([`${parent(i)}/${leaf}`, Buffer.from(`${leaf} of ${i}`)]);
      }
      await zk.createAll(nodes, 300);
      clients = await openClients(config, createMetrics(), silentLogger());
      assert.equal(isBatchReader(clients.zk), mode === 'auto');
    });

    beforeEach(async () => {
      await etcd.delete().prefix(root);
      await redis.del(ownershipHashKey(name));
    });

    after(async () => {
      await clients.close();
      await cleanupRoot({ zk, etcd, redis, root, instance: name });
    });

    test('a copy confirms every parent from its stamp: no child list is read twice', async () => {
      const zkCounted = racingReader(clients.zk);
      const report = await fix(config, { ...clients, zk: zkCounted.reader }, ctx());
      assert.equal(report.applied?.put, 1 + 300 * 4);
      await assertMirrored(etcd, root);
      for (const i of [0, 7, 150, 299]) assert.equal(zkCounted.listReads(parent(i)), 1, `list reads of ${parent(i)}`);
      // The root is interior (the layout lists it to cut the chunks): each chunk confirms its parents'
      // keys from the stamp the layout read, not by listing the root's 300 children again.
      assert.equal(zkCounted.listReads(root), 1, 'list reads of the root');
    });

    test("a parent deleted after the walk is not created: the root's stamp moved since the layout, its list is read again", async () => {
      const p = parent(150);
      const leaves = ['a', 'b', 'c'].map((leaf) => `${p}/${leaf}`);
      const removeSubtree = async () => {
        for (const leaf of leaves) await zk.remove(leaf);
        await zk.remove(p);
      };
      // Armed once the walk read p's last leaf; runs at the next read of the root: a chunk's confirmation.
      const zkRacing = racingReader(clients.zk, { armedBy: `${p}/c`, at: root, run: removeSubtree });
      try {
        const report = await fix(config, { ...clients, zk: zkRacing.reader }, ctx());
        assert.ok(zkRacing.fired());
        for (const key of [p, ...leaves]) assert.equal(await etcd.get(key).string(), null, key);
        assert.equal(report.applied?.put, 1 + 300 * 4 - 4);
        assert.ok(zkRacing.listReads(root) >= 2, `the root is listed again (list reads: ${zkRacing.listReads(root)})`);
        await assertMirrored(etcd, root);
      } finally {
        if (zkRacing.fired()) {
          // Put back what the race removed (a race that never fired removed nothing; its assertion failed above).
          await zk.create(p, Buffer.from('parent 150'));
          for (const leaf of leaves) await zk.create(leaf, Buffer.from(`${leaf.slice(-1)} of 150`));
        }
      }
    });

    test('a child deleted after the walk is not created: the stamp moved, the list is read again', async () => {
      const p = parent(7);
      const zkRacing = racingReader(clients.zk, { armedBy: `${p}/a`, at: p, run: () => zk.remove(`${p}/a`) });
      try {
        const report = await fix(config, { ...clients, zk: zkRacing.reader }, ctx());
        assert.ok(zkRacing.fired());
        assert.equal(report.applied?.put, 1 + 300 * 4 - 1);
        assert.equal(await etcd.get(`${p}/a`).string(), null);
        assert.equal(await etcd.get(`${p}/b`).string(), 'b of 7');
        assert.equal(zkRacing.listReads(p), 2);
        await assertMirrored(etcd, root);
      } finally {
        await zk.create(`${p}/a`, Buffer.from('a of 7'));
      }
    });

    test('a child re-created under the same name after the walk: the list is read again and the key kept', async () => {
      const p = parent(8);
      const recreate = async () => {
        await zk.remove(`${p}/b`);
        await zk.create(`${p}/b`, Buffer.from('b of 8'));
      };
      const zkRacing = racingReader(clients.zk, { armedBy: `${p}/b`, at: p, run: recreate });
      const report = await fix(config, { ...clients, zk: zkRacing.reader }, ctx());
      assert.ok(zkRacing.fired());
      assert.equal(report.applied?.put, 1 + 300 * 4);
      assert.equal(zkRacing.listReads(p), 2, 'same names, new stamp: the list is read, not trusted');
      await assertMirrored(etcd, root);
    });

    test('a key of ours whose node reappears after the walk is not deleted', async () => {
      const p = parent(9);
      const x = `${p}/x`;
      await zk.create(x, Buffer.from('x'));
      assert.equal((await fix(config, clients, ctx())).applied?.put, 1 + 300 * 4 + 1);
      await zk.remove(x); // ours in etcd, gone from ZooKeeper: an extra, until the race brings it back
      const zkRacing = racingReader(clients.zk, { armedBy: `${p}/c`, at: p, run: () => zk.create(x, Buffer.from('x')) });
      try {
        const report = await fix(config, { ...clients, zk: zkRacing.reader }, ctx());
        assert.ok(zkRacing.fired());
        assert.deepEqual(report.applied, { put: 0, delete: 0, skipped: 0 });
        assert.deepEqual(report.extra, []);
        assert.equal(await etcd.get(x).string(), 'x');
        await assertMirrored(etcd, root);
      } finally {
        await zk.remove(x);
      }
    });
  });
}
