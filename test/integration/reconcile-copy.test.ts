import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dubboTree } from '../helpers/dubbo.js';
import { etcdDump, freshName, jsonReport, runCli, servers, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';

/** A Dubbo-shaped tree over 10,000 nodes plus tricky values and names, copied and compared byte-exact. */
describe('fix copies a large tree byte-exact', () => {
  const name = freshName('copy');
  const root = `/${name}`;
  const instance = name;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const expected = new Map<string, Buffer>();
  const flags = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${instance}`, '--output=json'];

  before(async () => {
    zk = await testZk();
    const nodes = dubboTree(root, 100, 60, 36); // 1 + 100 * (5 + 96) = 10,101 nodes
    const special: [string, Buffer][] = [
      [`${root}/binary`, Buffer.alloc(0)],
      [`${root}/binary/nul`, Buffer.from([0, 1, 0, 2, 0])],
      [`${root}/binary/invalid-utf8`, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1])],
      [`${root}/binary/empty`, Buffer.alloc(0)],
      [`${root}/names`, Buffer.alloc(0)],
      [`${root}/names/ünïcødé 服务 ﬁ`, Buffer.from('unicode')],
      [`${root}/names/with space`, Buffer.from('space')],
      [`${root}/names/${encodeURIComponent('dubbo://1.2.3.4:20880/a.B?x=1&y=%2F')}`, Buffer.from('encoded')],
      [`${root}/big`, Buffer.alloc(0)],
    ];
    // Values near ZooKeeper's 1 MiB limit: the writer must split them across transactions.
    for (let i = 0; i < 6; i++) special.push([`${root}/big/v${i}`, Buffer.alloc(1_000_000, 0x41 + i)]);
    await zk.createAll([...nodes, ...special], 300);
    for (const [p, d] of [...nodes, ...special]) expected.set(p, d);
  });

  after(async () => {
    await zk.removeTree(root);
    zk.close();
    await etcd.delete().prefix(root);
    await redis.del(ownershipHashKey(instance));
    etcd.close();
    redis.disconnect();
  });

  test('diff before the copy reports every node missing (exit 3)', async () => {
    const r = await runCli(['diff', ...flags]);
    assert.equal(r.code, 3, r.stderr);
    const report = jsonReport(r);
    assert.equal(report.inSync, false);
    assert.equal(report.counts.zookeeper, expected.size);
    assert.equal(report.counts.missing, expected.size);
    assert.equal(report.missing.length, 1000, 'key lists are capped');
    assert.equal(report.truncated, true);
    assert.equal(report.applied, null);
  });

  test('fix copies everything and records every key as ours', async () => {
    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    const report = jsonReport(r);
    assert.deepEqual(report.applied, { put: expected.size, delete: 0, skipped: 0 });

    const dump = await etcdDump(etcd, root);
    assert.equal(dump.size, expected.size);
    for (const [path, data] of expected) {
      const got = dump.get(path);
      assert.ok(got, `missing key ${path}`);
      assert.ok(got.equals(data), `bytes differ for ${path}`);
    }
    const owned = await redis.hgetall(ownershipHashKey(instance));
    assert.equal(Object.keys(owned).length, expected.size);
    const revisions = await etcd.getAll().prefix(root).exec();
    const modByKey = new Map(revisions.kvs.map((kv) => [kv.key.toString(), kv.mod_revision]));
    for (const [key, rev] of Object.entries(owned)) assert.equal(rev, modByKey.get(key), `record for ${key} is the write revision`);
  });

  test('diff afterwards is in sync (exit 0); the 1 MB values split multiReads, which the metrics do not count as errors', async () => {
    const r = await runCli(['diff', ...flags, `--pushgateway-url=${servers.pushgateway}`]);
    assert.equal(r.code, 0, r.stderr);
    const report = jsonReport(r);
    assert.equal(report.inSync, true);
    const pushed = (await (await fetch(`${servers.pushgateway}/metrics`)).text()).split('\n').filter((l) => l.startsWith('zk2etcd_zk_op_total{') && l.includes(`instance="${instance}"`) && l.includes('command="diff"'));
    await fetch(`${servers.pushgateway}/metrics/job/zk2etcd/instance/${instance}/command/diff`, { method: 'DELETE' });
    // The protocol client (ZooKeeper 3.8 here): batches holding several 1 MB values are over the reply limit.
    assert.ok(pushed.some((l) => /op="multi_read".*status="split"/.test(l)), pushed.join('\n'));
    assert.deepEqual(pushed.filter((l) => !/status="(success|split)"/.test(l)), [], 'no ZooKeeper errors');
    assert.equal(report.counts.etcd, expected.size);
    assert.deepEqual([report.counts.missing, report.counts.changed, report.counts.extra], [0, 0, 0]);
  });

  test('a data-only change is detected and copied', async () => {
    const path = `${root}/binary/nul`;
    await zk.set(path, Buffer.from([9, 0, 9]));
    const d = jsonReport(await runCli(['diff', ...flags]));
    assert.deepEqual(d.changed, [path]);
    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await etcd.get(path).buffer())?.toJSON().data, [9, 0, 9]);
  });
});
