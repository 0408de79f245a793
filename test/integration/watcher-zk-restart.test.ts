import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { privateEtcd, privateZk } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { assertMirrored, freshName, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';

/**
 * ZooKeeper restarted (SIGKILL, then started again on its data) under a running watcher, with changes
 * made just before the kill, right after the restart (while the watcher reconnects) and later. etcd must
 * end up holding exactly the ZooKeeper tree, keys of other writers untouched, and the watcher must keep
 * following. Run with both ZooKeeper clients, side by side (each has its own servers): the protocol
 * client (fast path) and the addon.
 */
describe('the watcher across ZooKeeper restarts', { concurrency: 2 }, () => {
  for (const mode of ['auto', 'off']) {
    const client = mode === 'auto' ? 'protocol client' : 'addon';
    describe(`with the ${client}`, { concurrency: 1 }, () => {
      const name = freshName('zkrestart');
      const root = `/${name}`;
      const foreign = new Map([
        [`${root}/foreign-config`, 'written by another tool'],
        [`${root}/n1/foreign-child`, 'also theirs'],
      ]);
      let zkServer: PrivateServer;
      let etcdServer: PrivateServer;
      let zk: TestZk;
      let etcd: Etcd3;
      const redis = testRedis();
      let watcher: WatcherProcess;
      const watcherArgs = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--zookeeper-session-timeout=2s', `--zookeeper-fast-path=${mode}`];
      const start = async (): Promise<void> => {
        watcher = await startWatcher(watcherArgs, { ZK2ETCD_ZOOKEEPER_SERVERS: zkServer.address, ZK2ETCD_ETCD_SERVERS: etcdServer.address });
        await waitForLog(watcher, 'full reconcile done');
      };

      const converged = async (what: string, timeoutMs = 90_000): Promise<void> => {
        try {
          await eventually(() => assertMirrored(etcd, root, [...foreign.keys()], zkServer.address), timeoutMs, 250);
        } catch (err) {
          throw new Error(`${what}: ${(err as Error).message}\nwatcher log (tail):\n${watcher.output().slice(-3000)}`, { cause: err });
        }
        for (const [key, value] of foreign) assert.equal(await etcd.get(key).string(), value, `foreign ${key} untouched`);
        assert.equal(watcher.child.exitCode, null, `the watcher is still running; log:\n${watcher.output().slice(-3000)}`);
      };
      /** Our own client reconnects on its own schedule: wait for it, so the test's writes do not fail. */
      const zkBack = () => eventually(async () => void (await zk.children('/')), 30_000, 200);
      const alive = (what: string) => assert.equal(watcher.child.exitCode, null, `${what}; watcher log (tail):\n${watcher.output().slice(-3000)}`);

      before(async () => {
        [zkServer, etcdServer] = await Promise.all([privateZk(), privateEtcd()]);
        await Promise.all([zkServer.start(), etcdServer.start()]);
        zk = await testZk(zkServer.address);
        etcd = new Etcd3({ hosts: etcdServer.address });
        const nodes: [string, Buffer][] = [[root, Buffer.from('root')]];
        for (let i = 0; i < 40; i++) {
          nodes.push([`${root}/n${i}`, Buffer.from(`v${i}`)]);
          for (let j = 0; j < 5; j++) nodes.push([`${root}/n${i}/c${j}`, Buffer.from(`v${i}.${j}`)]);
        }
        await zk.createAll(nodes);
        for (const [key, value] of foreign) await etcd.put(key).value(value);
        await start();
        await converged('initial load');
      });

      after(async () => {
        await watcher?.stop();
        zk?.close();
        etcd?.close();
        await redis.del(ownershipHashKey(name));
        redis.disconnect();
        await Promise.all([zkServer?.cleanup(), etcdServer?.cleanup()]);
      });

      test('a quick restart: changes made just before the kill and right after the restart arrive', async () => {
        await zk.create(`${root}/before-kill`, Buffer.from('b'));
        await zk.set(`${root}/n2`, Buffer.from('changed before the kill'));
        await zk.removeTree(`${root}/n3`);
        await zkServer.kill();
        await sleep(1000);
        await zkServer.start();
        await zkBack();
        await zk.create(`${root}/after-restart`, Buffer.from('a'));
        await zk.set(`${root}/n4/c1`, Buffer.from('changed right after the restart'));
        await zk.removeTree(`${root}/n5`);
        await zk.removeTree(`${root}/n6`);
        await zk.create(`${root}/n6`, Buffer.from('re-created with new data'));
        await converged('after a quick restart');
        // Still following: a change made now arrives on its own (no reconcile is scheduled).
        await zk.create(`${root}/later`, Buffer.from('l'));
        await zk.set(`${root}/n7`, Buffer.from('changed later'));
        await converged('a change after the restart');
        await eventually(async () => assert.equal((await fetch(`${watcher.url}/readyz`)).status, 200), 30_000);
      });

      test('down for 6 s, three times the session timeout, while the watcher is idle: it reconnects and converges', async () => {
        await zk.set(`${root}/n8`, Buffer.from('changed before a long outage'));
        await converged('before the long outage');
        await zkServer.kill();
        try {
          await sleep(6000);
          alive('the watcher survives a 6 s ZooKeeper outage');
        } finally {
          await zkServer.start();
        }
        await zkBack();
        await zk.create(`${root}/after-long-outage`, Buffer.from('x'));
        await zk.removeTree(`${root}/n9`);
        await zk.set(`${root}/n10/c2`, Buffer.from('changed after a long outage'));
        await converged('after a long outage');
        await zk.create(`${root}/later-still`, Buffer.from('y'));
        await converged('a change after the long outage');
      });

      test('the session expires, then ZooKeeper is down for 5 s: the watcher rebuilds once it is back', async () => {
        // Frozen past the 2 s session timeout while the server runs: the server expires the session.
        watcher.child.kill('SIGSTOP');
        try {
          await zk.removeTree(`${root}/n11`);
          await zk.set(`${root}/n12`, Buffer.from('changed while the session expired'));
          await zk.create(`${root}/while-expired`, Buffer.from('e'));
          await sleep(3500);
          await zkServer.kill();
        } finally {
          watcher.child.kill('SIGCONT');
        }
        try {
          await sleep(5000);
          alive('the watcher survives while it cannot reach ZooKeeper');
        } finally {
          await zkServer.start();
        }
        await zkBack();
        await zk.removeTree(`${root}/n13`);
        await converged('after the session expired and ZooKeeper came back');
        await zk.create(`${root}/after-rebuild`, Buffer.from('r'));
        await converged('a change after the rebuild');
      });

      test('ZooKeeper killed during a burst of changes and down 15 s, past the connect timeout: the watcher waits and converges', async () => {
        // With the addon, a re-read in flight fails when the server dies, so the watcher rebuilds its session
        // while ZooKeeper is down and must keep retrying to open it (it used to exit after the connect timeout).
        const burst = (async () => {
          for (let i = 0; i < 200; i++) await zk.set(`${root}/n14/c${i % 5}`, Buffer.from(`burst ${i}`)).catch(() => {});
        })();
        await sleep(100);
        await zkServer.kill();
        try {
          await sleep(15_000);
          alive('the watcher survives a 15 s ZooKeeper outage with reads in flight');
        } finally {
          await zkServer.start();
          await burst;
          await zkBack();
        }
        await converged('after the outage');
      });

      test('etcd is down while the watcher reconciles after a lost session: what changed meanwhile still arrives', async () => {
        watcher.child.kill('SIGSTOP');
        try {
          await zk.removeTree(`${root}/n15`);
          await zk.set(`${root}/n16`, Buffer.from('changed while the session expired and etcd was down'));
          await etcdServer.kill();
          await sleep(3500); // past the session timeout: the server expires the session
        } finally {
          watcher.child.kill('SIGCONT');
        }
        try {
          // The watcher runs into etcd being down: the reconcile after the rebuild fails (protocol client) or
          // the changes found by reloading the mirror cannot be applied (addon). Both must be retried.
          await eventually(async () => assert.match(watcher.output(), /"msg":"(full reconcile failed|applying changes failed)/), 30_000).catch(() => {});
        } finally {
          await etcdServer.start();
        }
        await converged('after etcd came back', 60_000);
      });
    });
  }
});
