import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertMirrored, freshName, jsonReport, runCli, testEtcd, testRedis, testZk, cleanupRoot } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';

/** Tree shapes at the edges: 40 levels deep; one node with 20,000 children whose names exceed 1 MiB. */
describe('unusual tree shapes copy completely', () => {
  const name = freshName('shapes');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const flags = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--output=json'];

  before(async () => {
    zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
    let deep = `${root}/deep`;
    for (let i = 0; i < 40; i++) {
      nodes.push([deep, Buffer.from(`depth ${i}`)]);
      deep += `/d${i} %2F x`;
    }
    nodes.push([`${root}/wide`, Buffer.alloc(0)]);
    for (let i = 0; i < 20_000; i++) nodes.push([`${root}/wide/${String(i).padStart(6, '0')}-${'n'.repeat(54)}`, Buffer.alloc(0)]);
    await zk.createAll(nodes, 400);
  });

  after(async () => {
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test('fix copies every node (the child list of /wide is larger than 1 MiB)', async () => {
    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    const report = jsonReport(r);
    assert.equal(report.counts.zookeeper, 1 + 40 + 1 + 20_000);
    assert.equal(report.applied.put, report.counts.zookeeper);
    await assertMirrored(etcd, root);
  });

  test('diff afterwards is in sync', async () => {
    const r = await runCli(['diff', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonReport(r).inSync, true);
  });

  test('the prefix root missing from etcd (and a prefix absent from both): only the root is missing, every other key counted once', async () => {
    await etcd.delete().key(root);
    // `${root}-none` sorts before `${root}/...`: a read of its own key must not return the next key in etcd.
    const r = await runCli(['diff', ...flags.filter((f) => !f.startsWith('--zookeeper-prefix')), `--zookeeper-prefix=${root}-none,${root}`, '--allow-empty-source']);
    assert.equal(r.code, 3, r.stderr);
    const report = jsonReport(r);
    const total = 1 + 40 + 1 + 20_000;
    assert.deepEqual(report.counts, { zookeeper: total, etcd: total - 1, missing: 1, changed: 0, extra: 0, foreign: 0, conflict: 0 });
    assert.deepEqual(report.missing, [root]);
    const fixed = await runCli(['fix', ...flags]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.deepEqual(jsonReport(fixed).applied, { put: 1, delete: 0, skipped: 0 });
  });
});
