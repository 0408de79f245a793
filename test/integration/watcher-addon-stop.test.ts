import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cleanupRoot, freshName, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { dubboTree } from '../helpers/dubbo.js';
import { startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

/**
 * The watcher on the one-request-per-node client (ZooKeeper before 3.6, or --zookeeper-fast-path=off)
 * loads the whole tree with watches before it follows events. SIGTERM during that load stops it: the
 * process exits 0 without loading and writing the rest of the tree.
 */
describe('SIGTERM while the addon watcher loads the tree', () => {
  const name = freshName('addon-stop');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  let watcher: WatcherProcess | undefined;
  let total = 0;

  before(async () => {
    zk = await testZk();
    const nodes = dubboTree(root, 300, 10, 20);
    total = nodes.length;
    await zk.createAll(nodes);
  });

  after(async () => {
    await watcher?.stop();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test(`stops the load of ${'>'}10,000 nodes and exits 0`, async () => {
    assert.ok(total > 10_000, `${total} nodes`);
    watcher = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--zookeeper-fast-path=off']);
    await waitForLog(watcher, 'became leader');
    const res = await watcher.stop();
    assert.equal(res.code, 0, watcher.output().slice(-2000));
    assert.match(watcher.output(), /"msg":"stopped"/);
    assert.doesNotMatch(watcher.output(), /full reconcile done/);
    const written = (await etcd.getAll().prefix(root).keys()).length;
    assert.ok(written < total, `the load stopped: ${written} of ${total} keys written`);
  });
});
