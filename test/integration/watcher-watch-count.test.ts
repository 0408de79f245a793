import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import { connectZk } from '../../common/zk/addon-client.js';
import { dubboTree } from '../helpers/dubbo.js';
import { assertMirrored, cleanupRoot, freshName, servers, testEtcd, testRedis, testZk, zkDump } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

/** Data watches ZooKeeper holds on `root` and below, for every session (`wchc` lists a session, then its paths; it shows the data table only). */
async function serverDataWatchesUnder(root: string): Promise<number> {
  const [host, port] = servers.zk.split(':') as [string, string];
  const text = await new Promise<string>((resolve, reject) => {
    let out = '';
    const socket = connect(Number(port), host, () => socket.end('wchc'));
    socket.on('data', (d: Buffer) => (out += d.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
  return text.split('\n').filter((line) => line.trim() === root || line.trim().startsWith(`${root}/`)).length;
}

/**
 * zk2etcd_watches on the one-request-per-node client: the watches armed, as ZooKeeper counts them. It was
 * kept by hand (one more per read, one less per event) and drifted low when events and re-reads crossed.
 */
describe('zk2etcd_watches on the addon path', () => {
  const name = freshName('watch-count');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  let watcher: WatcherProcess;

  const gauge = async (): Promise<number> => {
    const text = await (await fetch(`${watcher.url}/metrics`)).text();
    return Number(/^zk2etcd_watches (\d+)$/m.exec(text)?.[1]);
  };

  before(async () => {
    zk = await testZk();
    await zk.createAll(dubboTree(root, 10, 3, 2));
    watcher = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--zookeeper-fast-path=off']);
    await waitForLog(watcher, 'full reconcile done');
  });

  after(async () => {
    await watcher?.stop();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test('the addon session counts the watches its reads armed, and none once it is closed', async () => {
    const conn = await connectZk({ servers: [servers.zk], sessionTimeoutMs: 10_000, auth: null, logger: silentLogger() });
    try {
      await conn.getW(root, () => undefined);
      await conn.childrenW(root, () => undefined);
      await conn.existsW(root, () => undefined); // the data table holds one watch per path
      await conn.getW(`${root}/absent`, () => undefined); // none set on an absent node
      assert.equal(conn.armedWatches, 2);
    } finally {
      conn.close();
    }
    assert.equal(conn.armedWatches, 0);
  });

  test('after a load and bursts of creates, sets and deletes racing the re-reads: two per node, the data watches confirmed by ZooKeeper', async () => {
    const settled = async (): Promise<void> =>
      eventually(async () => {
        await assertMirrored(etcd, root);
        const nodes = (await zkDump(root)).size;
        assert.equal(await serverDataWatchesUnder(root), nodes, 'ZooKeeper holds a data watch per node');
        assert.equal(await gauge(), 2 * nodes, 'zk2etcd_watches: a data and a child watch per node');
      }, 30_000);
    await settled();

    const svc = `${root}/com.example.service.Service3`;
    for (let round = 0; round < 5; round++) {
      const burst: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) burst.push(zk.set(root, Buffer.from(`r${round}.${i}`)), zk.set(svc, Buffer.from(`s${round}.${i}`)));
      burst.push(zk.create(`${svc}/burst${round}`, Buffer.from('b')), zk.create(`${root}/extra${round}`, Buffer.from('e')));
      await Promise.all(burst);
      await zk.create(`${svc}/burst${round}/child`, Buffer.from('c'));
      if (round % 2 === 1) {
        await zk.remove(`${svc}/burst${round}/child`);
        await zk.remove(`${svc}/burst${round}`);
        await zk.remove(`${root}/extra${round - 1}`);
      }
    }
    await settled();
  });
});
