import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { cleanupRoot, freshName, jsonReport, runCli, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';

const WARNING = /no ownership records for this --instance, yet etcd holds keys under the prefixes/;

/** Redis lost every record (restarted without persistence, flushed): zk2etcd can no longer delete, and says so. */
describe('ownership records lost', () => {
  const name = freshName('owner-lost');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const flags = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--output=json'];

  before(async () => {
    zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
    for (let i = 0; i < 20; i++) nodes.push([`${root}/n${i}`, Buffer.from(`v${i}`)]);
    await zk.createAll(nodes);
  });

  after(() => cleanupRoot({ zk, etcd, redis, root, instance: name }));

  test('a first copy into an empty etcd: no warning', async () => {
    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, WARNING);
    assert.equal(await redis.hlen(ownershipHashKey(name)), 21);
  });

  test('the records gone: diff and fix warn, naming the runbook; the key of a deleted znode is kept, not deleted', async () => {
    await redis.del(ownershipHashKey(name));
    const diff = await runCli(['diff', ...flags]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stderr, WARNING);
    assert.match(diff.stderr, /"keys":21/);
    assert.match(diff.stderr, /Ownership records lost/);
    await zk.remove(`${root}/n0`);
    const fix = await runCli(['fix', ...flags]);
    assert.match(fix.stderr, WARNING);
    assert.deepEqual(jsonReport(fix).foreign, [`${root}/n0`]);
    assert.equal(await etcd.get(`${root}/n0`).string(), 'v0', 'kept: without a record it is not provably ours');
  });
});
