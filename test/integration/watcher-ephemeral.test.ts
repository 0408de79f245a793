import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cleanupRoot, freshName, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

/** --skip-ephemeral in the watcher: a node is left out while it is ephemeral, including one that replaced a persistent node. */
describe('zk2etcd sync --skip-ephemeral', () => {
  const name = freshName('ephem');
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const watchers: WatcherProcess[] = [];

  before(async () => {
    zk = await testZk();
    await zk.create(`/${name}`);
  });

  after(async () => {
    await Promise.all(watchers.map((w) => w.stop()));
    await cleanupRoot({ zk, etcd, redis, root: `/${name}`, instance: name });
  });

  for (const fastPath of ['on', 'off'] as const) {
    test(`--zookeeper-fast-path=${fastPath}: nodes swapped between persistent and ephemeral follow the swap`, async () => {
      const root = `/${name}/${fastPath}`;
      await zk.createAll([[root, Buffer.from('r')], ...Array.from({ length: 5 }, (_, i): [string, Buffer] => [`${root}/p${i}`, Buffer.from(`persistent-${i}`)])]);
      for (let i = 0; i < 5; i++) await zk.create(`${root}/e${i}`, Buffer.from(`ephemeral-${i}`), true);
      const w = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, `--zookeeper-fast-path=${fastPath}`, '--skip-ephemeral', '--fullsync-interval=0']);
      watchers.push(w);
      await waitForLog(w, 'full reconcile done');
      // The first copy repairs an empty etcd, whichever client loaded it (the addon's load or the reconcile).
      const text = await (await fetch(`${w.url}/metrics`)).text();
      const counted = (name: string) => Number(new RegExp(`^${name}\\{type="put"\\} (\\d+)$`, 'm').exec(text)?.[1]);
      assert.equal(counted('zk2etcd_fixed_total'), 6, 'the root and its five persistent nodes, as repairs');
      assert.equal(counted('zk2etcd_applied_total'), 6);
      for (let i = 0; i < 5; i++) {
        assert.equal(await etcd.get(`${root}/p${i}`).string(), `persistent-${i}`);
        assert.equal(await etcd.get(`${root}/e${i}`).string(), null);
      }
      // Each swap sent back to back: the watcher may see both events at once, or only the second node.
      await Promise.all(
        Array.from({ length: 5 }, (_, i) => [
          zk.remove(`${root}/p${i}`).then(() => undefined),
          zk.create(`${root}/p${i}`, Buffer.from(`now-ephemeral-${i}`), true),
          zk.remove(`${root}/e${i}`).then(() => undefined),
          zk.create(`${root}/e${i}`, Buffer.from(`now-persistent-${i}`)),
        ]).flat(),
      );
      await eventually(async () => {
        for (let i = 0; i < 5; i++) {
          assert.equal(await etcd.get(`${root}/p${i}`).string(), null, `p${i} is ephemeral now: its key goes`);
          assert.equal(await etcd.get(`${root}/e${i}`).string(), `now-persistent-${i}`, `e${i} is persistent now: synced`);
        }
      }, 30_000);
      await w.stop();
    });
  }
});
