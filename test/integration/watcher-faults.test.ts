import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { assertMirrored, freshName, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { privateEtcd, privateRedis } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import { zkProxy } from '../helpers/zk-proxy.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

/** Redis and etcd outages while the watcher applies changes: nothing lost, nothing deleted blind. */
describe('the watcher across Redis and etcd outages', () => {
  const name = freshName('faults');
  const root = `/${name}`;
  let zk: TestZk;
  let redis: PrivateServer;
  let etcdServer: PrivateServer;
  let etcd: Etcd3;
  let watcher: WatcherProcess;

  before(async () => {
    [zk, redis, etcdServer] = await Promise.all([testZk(), privateRedis(), privateEtcd()]);
    await Promise.all([redis.start(), etcdServer.start()]);
    etcd = new Etcd3({ hosts: etcdServer.address });
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
    for (let i = 0; i < 50; i++) nodes.push([`${root}/n${i}`, Buffer.from(`v${i}`)]);
    await zk.createAll(nodes);
    watcher = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`], {
      ZK2ETCD_REDIS_SERVER: redis.address,
      ZK2ETCD_ETCD_SERVERS: etcdServer.address,
    });
    await waitForLog(watcher, 'full reconcile done');
    await eventually(() => assertMirrored(etcd, root));
  });

  after(async () => {
    await watcher?.stop();
    await zk.removeTree(root);
    zk.close();
    etcd?.close();
    await Promise.all([redis?.cleanup(), etcdServer?.cleanup()]);
  });

  test('Redis down: nothing written or deleted; the backlog is applied once it returns', async () => {
    await redis.kill();
    await zk.remove(`${root}/n1`);
    await zk.create(`${root}/during-redis-outage`, Buffer.from('new'));
    await zk.set(`${root}/n2`, Buffer.from('changed during outage'));
    await sleep(3000);
    assert.equal(await etcd.get(`${root}/n1`).string(), 'v1', 'no delete without an ownership check');
    assert.equal(await etcd.get(`${root}/during-redis-outage`).string(), null, 'no write without an ownership record');
    assert.equal(await etcd.get(`${root}/n2`).string(), 'v2');
    assert.match(watcher.output(), /applying changes failed; keeping them and retrying/);
    await redis.start();
    await eventually(() => assertMirrored(etcd, root), 30_000);
  });

  test('etcd restarted during changes: nothing lost once it returns', async () => {
    await etcdServer.kill();
    await zk.remove(`${root}/n3`);
    await zk.create(`${root}/during-etcd-outage`, Buffer.from('e'));
    await zk.set(`${root}/n4`, Buffer.from('changed while etcd was down'));
    await sleep(2000);
    await etcdServer.start();
    await eventually(() => assertMirrored(etcd, root), 60_000);
    await zk.create(`${root}/after-etcd-restart`, Buffer.from('ok'));
    await eventually(async () => assert.equal(await etcd.get(`${root}/after-etcd-restart`).string(), 'ok'), 30_000);
  });

  // Each etcd call's deadline is 10 s and reads and writes are tried 4 times: waiting for them would pass the 20 s limit.
  for (const busy of ['a flush of changes', 'a scheduled full reconcile'] as const) {
    test(`SIGTERM while etcd does not answer ${busy}: abandoned (not retried), exit 0 before the shutdown limit`, { timeout: 120_000 }, async () => {
      // A TCP proxy (the ZooKeeper test proxy forwards any TCP) that can hold all traffic: etcd hangs, it does not refuse.
      const proxy = await zkProxy(etcdServer.address.replace(/^https?:\/\//, ''));
      const reconciles = busy === 'a scheduled full reconcile';
      const w = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}-hang`, ...(reconciles ? ['--fullsync-interval=1s'] : [])], {
        ZK2ETCD_REDIS_SERVER: redis.address,
        ZK2ETCD_ETCD_SERVERS: `http://${proxy.address}`,
      });
      try {
        await waitForLog(w, 'full reconcile done');
        proxy.hold(true);
        if (!reconciles) await zk.create(`${root}/while-etcd-hangs`, Buffer.from('h'));
        await sleep(2500); // the flush, or the next scheduled reconcile (every 1 s), is waiting on etcd
        const exit = await w.stop();
        assert.deepEqual(exit, { code: 0, signal: null }, w.output().slice(-2000));
        assert.match(w.output(), reconciles ? /the running full reconcile waits on etcd or Redis: abandoned/ : /a flush still waits on etcd or Redis: abandoned/);
        assert.doesNotMatch(w.output(), /shutdown did not finish in time/);
      } finally {
        proxy.hold(false);
        await proxy.close();
      }
    });
  }
});
