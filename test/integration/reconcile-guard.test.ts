import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import pino from 'pino';
import { DeletionGuardError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { createMetrics } from '../../common/metrics.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { openClients } from '../../functions/clients.js';
import type { OpenClients } from '../../functions/clients.js';
import { fix } from '../../functions/handlers.js';
import { assertMirrored, cleanupRoot, etcdDump, freshName, testEtcd, testRedis, testZk, testConfig } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';

/**
 * SPEC §4.6: a fix the deletion guard refuses is refused whole. Its creates and updates are held back
 * until the guard has passed; more than can be held makes a read-only pass check the guard first.
 */
describe('the deletion guard refuses a fix before anything is written', () => {
  const name = freshName('guard');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  let clients: OpenClients;
  const config = testConfig('fix', [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`]);
  const value = (i: number, v: string) => Buffer.from(`${v}${i}:${'x'.repeat(200)}`);
  const NODES = 40;

  /** The real clients, counting passes (each pass asks once whether any record exists). */
  const counted = () => {
    const passes = { n: 0 };
    const ownership = { ...clients.ownership, isEmpty: () => (passes.n++, clients.ownership.isEmpty()) };
    return { clients: { ...clients, ownership }, passes };
  };
  const logged = () => {
    const lines: string[] = [];
    return { lines, logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }) };
  };

  before(async () => {
    zk = await testZk();
    clients = await openClients(config, createMetrics(), silentLogger());
  });

  beforeEach(async () => {
    await zk.removeTree(root);
    await etcd.delete().prefix(root);
    await redis.del(ownershipHashKey(name));
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
    for (let i = 0; i < NODES; i++) nodes.push([`${root}/n${i}`, value(i, 'v')]);
    await zk.createAll(nodes);
    await fix(config, clients, { metrics: createMetrics(), logger: silentLogger() }); // every key ours
    await assertMirrored(etcd, root);
  });

  after(async () => {
    await clients.close();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  /** Deletes `removed` nodes, changes 5 and creates 2: 7 puts of ~200 bytes each. */
  async function drift(removed: number): Promise<void> {
    for (let i = 0; i < removed; i++) await zk.remove(`${root}/n${i}`);
    for (let i = NODES - 5; i < NODES; i++) await zk.set(`${root}/n${i}`, value(i, 'changed'));
    for (const i of [100, 101]) await zk.create(`${root}/n${i}`, value(i, 'new'));
  }

  for (const [label, holdBytes] of [['held back', undefined], ['too many to hold back: a read-only pass', 100]] as const) {
    test(`refused (${label}): no create, update or delete lands, and nothing is marked pending`, async () => {
      await drift(30); // 30 deletes of our 40 keys, over the default 50%
      const before = await etcdDump(etcd, root);
      const recordsBefore = await redis.hgetall(ownershipHashKey(name));
      const { clients: c, passes } = counted();
      await assert.rejects(fix(config, c, { metrics: createMetrics(), logger: silentLogger(), holdBytes }), DeletionGuardError);
      assert.equal(passes.n, 1, 'refused after one pass');
      assert.deepEqual(await etcdDump(etcd, root), before, 'etcd unchanged');
      assert.deepEqual(await redis.hgetall(ownershipHashKey(name)), recordsBefore, 'ownership records unchanged');
    });
  }

  test('passed, with everything held back: one pass writes the creates, updates and deletes', async () => {
    await drift(2);
    const { clients: c, passes } = counted();
    const report = await fix(config, c, { metrics: createMetrics(), logger: silentLogger() });
    assert.deepEqual(report.applied, { put: 7, delete: 2, skipped: 0 });
    assert.equal(passes.n, 1);
    await assertMirrored(etcd, root);
  });

  test('passed, with too many to hold back: the guard is checked on a read-only pass, then a second pass writes', async () => {
    await drift(2);
    const { clients: c, passes } = counted();
    const { lines, logger } = logged();
    const report = await fix(config, c, { metrics: createMetrics(), logger, holdBytes: 100 });
    assert.deepEqual(report.applied, { put: 7, delete: 2, skipped: 0 });
    assert.equal(passes.n, 2);
    assert.ok(lines.some((l) => l.includes('reconciling again, writing as it goes')), lines.join(''));
    await assertMirrored(etcd, root);
  });

  test('too many to hold back, and nodes deleted between the passes: the second pass deletes only what the guard approved', async () => {
    await drift(2);
    const { clients: c, passes } = counted();
    // The second pass starts (it asks whether any record exists) after 28 more nodes are gone: 30 deletes
    // of 40 keys would be refused, after this pass had written its creates and updates.
    const ownership = {
      ...c.ownership,
      isEmpty: async () => {
        const empty = await c.ownership.isEmpty();
        if (passes.n === 2) for (let i = 2; i < 30; i++) await zk.remove(`${root}/n${i}`);
        return empty;
      },
    };
    const report = await fix(config, { ...c, ownership }, { metrics: createMetrics(), logger: silentLogger(), holdBytes: 100 });
    assert.equal(passes.n, 2);
    assert.deepEqual(report.applied, { put: 7, delete: 2, skipped: 0 });
    assert.equal(report.counts.extra, 30, 'the later deletes are reported, not applied');
    for (let i = 2; i < 30; i++) assert.equal(await etcd.get(`${root}/n${i}`).string(), value(i, 'v').toString(), `n${i} kept for the next run`);
    assert.equal(await etcd.get(`${root}/n0`).string(), null);
    assert.equal(await etcd.get(`${root}/n100`).string(), value(100, 'new').toString());
  });

  test('--force writes as it goes, in one pass', async () => {
    await drift(30);
    const { clients: c, passes } = counted();
    const report = await fix({ ...config, force: true }, c, { metrics: createMetrics(), logger: silentLogger(), holdBytes: 100 });
    assert.deepEqual(report.applied, { put: 7, delete: 30, skipped: 0 });
    assert.equal(passes.n, 1);
    await assertMirrored(etcd, root);
  });
});
