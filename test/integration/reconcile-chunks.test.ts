import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertMirrored, freshName, jsonReport, runCli, testEtcd, testRedis, testZk, cleanupRoot } from '../helpers/services.js';
import type { CliResult, TestZk } from '../helpers/services.js';

/**
 * A full reconcile works chunk by chunk (common/chunks.ts): spans of etcd's key order cut between
 * subtrees. Names that sort between a node and its own subtree (`s1`, `s1-x`, `s1.x`, `s1/...`), keys
 * with no node in the gaps, foreign keys anywhere: every chunk boundary must lose and double nothing.
 */

const chunksOf = (r: CliResult): number => {
  for (const line of r.stderr.split('\n')) {
    if (!line.includes('zookeeper laid out')) continue;
    return (JSON.parse(line) as { chunks: number }).chunks;
  }
  throw new Error(`no layout line in stderr: ${r.stderr.slice(0, 500)}`);
};

/** A fresh root per suite: its clients, the CLI flags for it, and its cleanup after the suite. */
function freshRoot(label: string) {
  const name = freshName(label);
  const root = `/${name}`;
  const f = {
    root,
    etcd: testEtcd(),
    redis: testRedis(),
    zk: undefined as unknown as TestZk, // set in the suite's before()
    flags: [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--output=json', '--log-level=debug', '--max-delete=100%'],
  };
  after(async () => {
    await cleanupRoot({ zk: f.zk, etcd: f.etcd, redis: f.redis, root, instance: name });
  });
  return f;
}

describe('chunked reconcile: a wide prefix with interleaving names', () => {
  const f = freshRoot('chunks');
  const { root, etcd, flags } = f;
  const foreign = [`${root}/!before-everything`, `${root}/s17-foreign`, `${root}/s200/p/foreign`, `${root}/~after-everything`, `${root}/s3.x/q/foreign`];

  before(async () => {
    f.zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.from('root')]];
    for (let i = 0; i < 300; i++) {
      for (const n of [`s${i}`, ...(i % 3 === 0 ? [`s${i}-x`, `s${i}.x`, `s${i}!`] : [])]) {
        nodes.push([`${root}/${n}`, Buffer.from(n)]);
        nodes.push([`${root}/${n}/p`, Buffer.alloc(0)]);
        nodes.push([`${root}/${n}/p/${i}-a`, Buffer.from([0, i & 255, 0xff])]);
        nodes.push([`${root}/${n}/q`, Buffer.from(`q of ${n} \u4e2d`)]);
      }
    }
    await f.zk.createAll(nodes, 400);
  });

  test('the copy runs in many chunks and is exact', async () => {
    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(chunksOf(r) >= 10, `${chunksOf(r)} chunks`);
    const report = jsonReport(r);
    assert.equal(report.applied.put, report.counts.zookeeper);
    await assertMirrored(etcd, root);
  });

  test('drift on every side of the boundaries: fixed exactly, foreign keys kept, counts exact', async () => {
    for (const key of foreign) await etcd.put(key).value('another tool');
    // extras: whole subtrees and single leaves gone from ZooKeeper
    const gone = [`${root}/s9-x`, `${root}/s30!`, `${root}/s150`, `${root}/s299`];
    let extra = 0;
    for (const path of gone) {
      extra += (await etcd.getAll().prefix(`${path}/`).keys()).length + 1;
      await f.zk.removeTree(path);
    }
    await f.zk.remove(`${root}/s77/p/77-a`);
    extra += 1;
    // missing: new subtrees among existing names, before the first and after the last
    const created: [string, Buffer][] = [[`${root}/s1-new`, Buffer.from('n')], [`${root}/s1-new/z`, Buffer.from('z')], [`${root}/!aa`, Buffer.from('a')], [`${root}/~zz`, Buffer.from('z')], [`${root}/s33/p/new`, Buffer.from('n')]];
    await f.zk.createAll(created);
    // changed: data of nodes on both sides of a name's subtree
    for (const path of [`${root}/s6`, `${root}/s6-x/q`, `${root}/s6/p`, root]) await f.zk.set(path, Buffer.from('changed'));

    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    const report = jsonReport(r);
    assert.deepEqual(
      { missing: report.counts.missing, changed: report.counts.changed, extra: report.counts.extra, foreign: report.counts.foreign },
      { missing: created.length, changed: 4, extra, foreign: foreign.length },
    );
    assert.deepEqual(report.foreign, [...foreign].sort());
    assert.deepEqual(report.applied, { put: created.length + 4, delete: extra, skipped: 0 });
    await assertMirrored(etcd, root, foreign);
    for (const key of foreign) assert.equal(await etcd.get(key).string(), 'another tool', key);

    const diff = await runCli(['diff', ...flags]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.equal(jsonReport(diff).inSync, true);
    assert.equal(jsonReport(diff).counts.zookeeper, report.counts.zookeeper);
    assert.equal(jsonReport(diff).counts.etcd, report.counts.zookeeper + foreign.length);
  });
});

describe('chunked reconcile: a narrow prefix expanded over several levels', () => {
  const f = freshRoot('chunks-deep');
  const { root, etcd, flags } = f;

  before(async () => {
    f.zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)], [`${root}/a`, Buffer.from('a')], [`${root}/leaf`, Buffer.from('l')]];
    for (let b = 0; b < 3; b++) {
      nodes.push([`${root}/a/b${b}`, Buffer.from(`b${b}`)]);
      for (let c = 0; c < 120; c++) {
        nodes.push([`${root}/a/b${b}/c${c}`, Buffer.from(`c${c}`)]);
        nodes.push([`${root}/a/b${b}/c${c}/d`, Buffer.from('d')]);
      }
    }
    await f.zk.createAll(nodes, 400);
  });

  test('copy, then drift under the expanded levels, fixed exactly', async () => {
    const copy = await runCli(['fix', ...flags]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.ok(chunksOf(copy) > 1, `${chunksOf(copy)} chunks`);
    await assertMirrored(etcd, root);

    await f.zk.removeTree(`${root}/a/b1`); // an expanded (interior) node and all below it
    await f.zk.set(`${root}/a`, Buffer.from('a2'));
    await f.zk.createAll([[`${root}/a/b3`, Buffer.from('new')], [`${root}/a/b3/c0`, Buffer.from('new')]]);
    await etcd.put(`${root}/a-foreign`).value('x');
    const r = await runCli(['fix', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    const report = jsonReport(r);
    assert.deepEqual({ missing: report.counts.missing, changed: report.counts.changed, extra: report.counts.extra }, { missing: 2, changed: 1, extra: 1 + 240 });
    await assertMirrored(etcd, root, [`${root}/a-foreign`]);
    assert.equal(await etcd.get(`${root}/a-foreign`).string(), 'x');
  });
});

describe('chunked reconcile: confirmation rounds 2..N run once over every chunk', () => {
  const f = freshRoot('chunks-rounds');
  const { root, etcd, flags } = f;

  before(async () => {
    f.zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
    for (let i = 0; i < 300; i++) nodes.push([`${root}/s${i}`, Buffer.from(`s${i}`)], [`${root}/s${i}/x`, Buffer.from(`x${i}`)]);
    await f.zk.createAll(nodes, 400);
    const copy = await runCli(['fix', ...flags]);
    assert.equal(copy.code, 0, copy.stderr);
  });

  test('a difference that resolves during the pause is dropped; the rest is reported, then fixed', async () => {
    for (const i of [5, 150, 290]) await f.zk.remove(`${root}/s${i}/x`);
    await f.zk.createAll([[`${root}/s7/new`, Buffer.from('n')], [`${root}/s200/new`, Buffer.from('n')]]);
    let resolved: Promise<void> | null = null;
    const diff = await runCli(['diff', ...flags, '--max-round=3', '--round-interval=3s'], {}, (child) => {
      child.stderr?.on('data', (d: Buffer) => {
        // Every chunk has had its first round; rounds 2 and 3 follow after a pause each.
        if (resolved === null && d.toString().includes('chunks reconciled')) resolved = f.zk.create(`${root}/s150/x`, Buffer.from('x150'));
      });
    });
    assert.ok(resolved, 'the run logged the end of the chunks');
    await resolved;
    assert.equal(diff.code, 3, diff.stderr);
    const report = jsonReport(diff);
    assert.ok(chunksOf(diff) >= 5, `${chunksOf(diff)} chunks`);
    assert.deepEqual(report.extra, [`${root}/s290/x`, `${root}/s5/x`]);
    assert.deepEqual(report.missing, [`${root}/s200/new`, `${root}/s7/new`]);
    const rounds = diff.stderr.split('\n').filter((l) => l.includes('"confirmation round"')).map((l) => (JSON.parse(l) as { round: number }).round);
    assert.deepEqual(rounds, [2, 3], 'rounds 2 and 3 ran once each, over all chunks');

    const fix = await runCli(['fix', ...flags, '--max-round=2', '--round-interval=200ms']);
    assert.equal(fix.code, 0, fix.stderr);
    assert.deepEqual(jsonReport(fix).applied, { put: 2, delete: 2, skipped: 0 });
    await assertMirrored(etcd, root);
  });

  test("a missing node's data changed during the pause: the later round writes the new data, not the walk's", async () => {
    await f.zk.createAll([[`${root}/s9/late`, Buffer.from('v1')]]);
    let changed: Promise<void> | null = null;
    const fix = await runCli(['fix', ...flags, '--max-round=2', '--round-interval=2s'], {}, (child) => {
      child.stderr?.on('data', (d: Buffer) => {
        // Round 1 read v1 (a data-only change moves no child-list stamp); round 2 follows the pause.
        if (changed === null && d.toString().includes('chunks reconciled')) changed = f.zk.set(`${root}/s9/late`, Buffer.from('v2'));
      });
    });
    assert.ok(changed, 'the run logged the end of the chunks');
    await changed;
    assert.equal(fix.code, 0, fix.stderr);
    assert.deepEqual(jsonReport(fix).missing, [`${root}/s9/late`]);
    assert.equal(await etcd.get(`${root}/s9/late`).string(), 'v2');
    await assertMirrored(etcd, root);
  });
});
