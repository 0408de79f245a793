import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeLeaseServer } from '../helpers/fake-lease-server.js';
import { freshName, testEtcd, testRedis, testZk, cleanupRoot } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

/** Two `zk2etcd sync` processes with --leader-elect kubernetes against the fake Lease API. */
describe('watcher processes with Kubernetes Lease election', () => {
  const name = freshName('lease');
  const root = `/${name}`;
  const namespace = 'zk2etcd-test';
  const etcd = testEtcd();
  const redis = testRedis();
  let fake: FakeLeaseServer;
  let kubeconfig: string;
  let zk: TestZk;
  const replicas: WatcherProcess[] = [];
  const holder = () => String(fake.spec(namespace, name)?.holderIdentity ?? '');

  before(async () => {
    fake = await FakeLeaseServer.start();
    kubeconfig = fake.kubeconfig();
    zk = await testZk();
    await zk.createAll([[root, Buffer.from('r')]]);
    const args = [`--zookeeper-prefix=${root}`, `--instance=${name}`, '--leader-elect=kubernetes', `--lease-name=${name}`, `--lease-namespace=${namespace}`];
    replicas.push(await startWatcher(args, { KUBECONFIG: kubeconfig }));
    await waitForLog(replicas[0] as WatcherProcess, 'became leader');
    replicas.push(await startWatcher(args, { KUBECONFIG: kubeconfig }));
  });

  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await fake?.close();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test('one leader: the first replica holds the Lease, the second waits', async () => {
    const [first, second] = replicas as [WatcherProcess, WatcherProcess];
    assert.ok(holder().endsWith(`-${first.child.pid}`), `holder ${holder()}`);
    await eventually(async () => assert.equal(await etcd.get(root).string(), 'r'));
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(!second.output().includes('"msg":"became leader"'));
    assert.ok(holder().endsWith(`-${first.child.pid}`));
  });

  test('SIGTERM releases the Lease cleanly and the other replica takes over before it would expire', async () => {
    const [first, second] = replicas as [WatcherProcess, WatcherProcess];
    const stoppedAt = Date.now();
    const res = await first.stop();
    assert.equal(res.code, 0, first.output().slice(-1500));
    const release = fake.requests.find((r) => r.method === 'PUT' && r.at >= stoppedAt && r.body.includes('"leaseDurationSeconds":1'));
    assert.ok(release, 'a release write with a 1 s duration');
    await waitForLog(second, 'became leader', 1, 30_000);
    assert.ok(Date.now() - stoppedAt < 15_000, 'taken over before the 15 s lease would have expired');
    assert.ok(holder().endsWith(`-${second.child.pid}`), `holder ${holder()}`);
    await zk.create(`${root}/after-failover`, Buffer.from('f'));
    await eventually(async () => assert.equal(await etcd.get(`${root}/after-failover`).string(), 'f'));
  });

  test('a leader without ZooKeeper steps down: releases the Lease, then campaigns again under a new identity', async () => {
    const lease = `${name}-nozk`;
    const cutOff = await startWatcher(
      [`--zookeeper-prefix=${root}`, `--instance=${name}-nozk`, '--leader-elect=kubernetes', `--lease-name=${lease}`, `--lease-namespace=${namespace}`, '--zookeeper-servers=127.0.0.1:1', '--zookeeper-session-timeout=2s'],
      { KUBECONFIG: kubeconfig },
    );
    replicas.push(cutOff);
    const leaseHolder = () => String(fake.spec(namespace, lease)?.holderIdentity ?? '');
    await eventually(async () => assert.ok(leaseHolder().endsWith(`-${cutOff.child.pid}`), `holder ${leaseHolder()}`), 30_000);
    await waitForLog(cutOff, 'stepped down: standing by, to lead again once the other replicas had their turn', 1, 30_000);
    // A Lease it failed to release would still name its first identity: the new campaign must not take it for its own.
    await eventually(async () => assert.ok(leaseHolder().endsWith(`-${cutOff.child.pid}-2`), `holder ${leaseHolder()}`), 30_000);
    assert.ok(fake.requests.some((r) => r.method === 'PUT' && r.path.endsWith(`/${lease}`) && r.body.includes('"leaseDurationSeconds":1')), 'released in between');
    const res = await cutOff.stop();
    assert.equal(res.code, 0, cutOff.output().slice(-1500));
  });
});
