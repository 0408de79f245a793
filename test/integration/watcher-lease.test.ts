import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  let zk: TestZk;
  const replicas: WatcherProcess[] = [];
  const holder = () => String(fake.spec(namespace, name)?.holderIdentity ?? '');

  before(async () => {
    fake = await FakeLeaseServer.start();
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'zk2etcd-kube-')), 'config');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "${fake.url}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: watcher, user: {token: watcher-token}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: watcher}}]',
        'current-context: fake',
      ].join('\n'),
    );
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
});
