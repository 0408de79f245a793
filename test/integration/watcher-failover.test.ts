import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { assertMirrored, freshName, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

async function leaderGauge(w: WatcherProcess): Promise<number> {
  const text = await (await fetch(`${w.url}/metrics`)).text();
  const m = /^zk2etcd_leader (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Two replicas with etcd leader election: one writes; kill -9 it and the other takes over. */
describe('watcher failover with --leader-elect etcd', () => {
  const name = freshName('failover');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const replicas: WatcherProcess[] = [];
  const extra: WatcherProcess[] = [];
  const args = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--leader-elect=etcd', `--lease-name=${name}`];

  before(async () => {
    zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
    for (let i = 0; i < 100; i++) nodes.push([`${root}/n${i}`, Buffer.from(`v${i}`)]);
    await zk.createAll(nodes);
    replicas.push(await startWatcher(args));
    await waitForLog(replicas[0] as WatcherProcess, 'full reconcile done');
    replicas.push(await startWatcher(args));
  });

  after(async () => {
    await Promise.all([...replicas, ...extra].map((r) => r.stop()));
    await zk.removeTree(root);
    zk.close();
    await etcd.delete().prefix(root);
    await etcd.delete().prefix(`zk2etcd/leader/${name}`);
    await redis.del(ownershipHashKey(name));
    etcd.close();
    redis.disconnect();
  });

  test('exactly one replica leads; both are ready', async () => {
    const [a, b] = replicas as [WatcherProcess, WatcherProcess];
    await eventually(async () => assert.deepEqual([await leaderGauge(a), await leaderGauge(b)], [1, 0]));
    for (const r of replicas) assert.equal((await fetch(`${r.url}/readyz`)).status, 200, '/readyz does not depend on leadership');
    await eventually(() => assertMirrored(etcd, root));
  });

  test('SIGTERM to a standby: it exits 0 without ever leading', async () => {
    const standby = await startWatcher(args);
    extra.push(standby);
    await eventually(async () => assert.equal((await fetch(`${standby.url}/readyz`)).status, 200));
    assert.equal(await leaderGauge(standby), 0);
    standby.child.kill('SIGTERM');
    const res = await standby.exited;
    assert.equal(res.code, 0, standby.output().slice(-1500));
    assert.doesNotMatch(standby.output(), /sync failed|became leader/);
  });

  test('kill -9 of the leader during changes: the standby takes over and etcd converges', async () => {
    const [leader, standby] = replicas as [WatcherProcess, WatcherProcess];
    const changes: Promise<void>[] = [];
    for (let i = 0; i < 100; i += 2) changes.push(zk.set(`${root}/n${i}`, Buffer.from(`after${i}`)));
    leader.child.kill('SIGKILL');
    for (let i = 100; i < 150; i++) changes.push(zk.create(`${root}/n${i}`, Buffer.from(`new${i}`)));
    for (let i = 1; i < 40; i += 2) changes.push(zk.remove(`${root}/n${i}`));
    await Promise.all(changes);
    assert.equal((await leader.exited).signal, 'SIGKILL');
    await waitForLog(standby, 'became leader');
    await eventually(() => assertMirrored(etcd, root), 60_000);
    assert.equal(await leaderGauge(standby), 1);
  });

  test('a leader whose leader key is taken away stops writing and exits non-zero', async () => {
    const leader = replicas[1] as WatcherProcess;
    await etcd.delete().key(`zk2etcd/leader/${name}`);
    const res = await leader.exited;
    assert.equal(res.code, 1, leader.output().slice(-1500));
    assert.match(leader.output(), /leadership lost: exiting so the pod restarts clean/);
  });

  test('a leader that cannot reach ZooKeeper steps down after twice the session timeout: releases the key, stands by, leads again later', async () => {
    const lease = `${name}-nozk`;
    const cutOff = await startWatcher([...args.filter((a) => !a.startsWith('--lease-name=')), `--lease-name=${lease}`, '--zookeeper-servers=127.0.0.1:1', '--zookeeper-session-timeout=2s']);
    extra.push(cutOff);
    await eventually(async () => assert.equal(await leaderGauge(cutOff), 1), 30_000);
    await waitForLog(cutOff, 'released leadership', 1, 30_000);
    assert.match(cutOff.output(), /no ZooKeeper connection for \d+ s \(limit: twice the session timeout, 2 s from --zookeeper-session-timeout\): giving leadership up/);
    assert.match(cutOff.output(), /"msg":"stepped down: standing by/);
    assert.equal(cutOff.child.exitCode, null, 'stepping down is not an exit: no restart backoff');
    // The only contender: after its pause it campaigns (under a new identity) and leads again.
    await eventually(async () => assert.equal(await leaderGauge(cutOff), 1), 30_000);
    assert.match(cutOff.output(), /"identity":"[^"]+-\d+-2"[^}]*"msg":"became leader"/, 'the second campaign has its own identity');
    const res = await cutOff.stop();
    assert.equal(res.code, 0, cutOff.output().slice(-1500));
    assert.equal((await etcd.getAll().prefix(`zk2etcd/leader/${lease}`).keys()).length, 0, 'released on SIGTERM');
  });
});
