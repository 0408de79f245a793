import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { connectZk } from '../../common/zk/addon-client.js';
import { connectZkFast } from '../../common/zk/fast-client.js';
import { dubboTree } from '../helpers/dubbo.js';
import { privateZk } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { freshName, runCli, servers, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { startWatcher, waitForLog } from '../helpers/watcher-process.js';
import { zkProxy } from '../helpers/zk-proxy.js';
import type { ZkProxy } from '../helpers/zk-proxy.js';

// scripts/services.sh's ZooKeeper grants 1–60 s (minSessionTimeout=1000, maxSessionTimeout=60000); the
// watcher steps down after twice the granted timeout, so both clients must report the server's figure.
const clients = {
  protocol: (sessionTimeoutMs: number) => connectZkFast({ servers: [servers.zk], sessionTimeoutMs, auth: null, logger: silentLogger() }),
  addon: (sessionTimeoutMs: number) => connectZk({ servers: [servers.zk], sessionTimeoutMs, auth: null, logger: silentLogger() }),
};
const cases = [
  { name: 'a timeout within the server\'s range is granted as requested', requestedMs: 5_000, grantedMs: 5_000 },
  { name: 'a timeout above the server\'s maximum is granted the maximum', requestedMs: 600_000, grantedMs: 60_000 },
];

for (const [client, connect] of Object.entries(clients)) {
  describe(`the session timeout ZooKeeper granted (${client} client)`, () => {
    for (const c of cases) {
      test(c.name, async () => {
        const session = await connect(c.requestedMs);
        try {
          assert.equal(session.grantedTimeoutMs(), c.grantedMs);
        } finally {
          session.close();
        }
      });
    }
  });
}

/**
 * A server that grants at most 4 s while 60 s is requested (ZooKeeper's default maximum is 40 s, and
 * `10m` is a valid setting): past 4 s without a connection the session is gone, so a one-shot read stops
 * waiting then and a leader steps down after 8 s, not after 60 s and 120 s.
 */
describe('a session timeout above the server\'s maximum waits only the granted one', () => {
  const name = freshName('granted');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zkServer: PrivateServer;
  let zk: TestZk;
  let proxy: ZkProxy;

  before(async () => {
    zkServer = await privateZk({ maxSessionTimeoutMs: 4000 });
    await zkServer.start();
    proxy = await zkProxy(zkServer.address);
    zk = await testZk(zkServer.address);
    await zk.createAll(dubboTree(root, 40, 30, 20), 300); // ~2,200 nodes of ~1 KB names: a walk of ~2 MB
  });

  after(async () => {
    zk?.close();
    await proxy?.close();
    await zkServer?.cleanup();
    await etcd.delete().prefix(root);
    await etcd.delete().prefix(`zk2etcd/leader/${name}`);
    await redis.del(ownershipHashKey(name));
    etcd.close();
    redis.disconnect();
  });

  const common = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--zookeeper-session-timeout=60s'];
  const env = () => ({ ZK2ETCD_ZOOKEEPER_SERVERS: proxy.address, ZK2ETCD_LOG_LEVEL: 'info' });

  for (const fastPath of ['on', 'off']) {
    test(`--zookeeper-fast-path=${fastPath}: a diff partitioned mid-walk fails after the granted 4 s, and says which timeout that was`, { timeout: 90_000 }, async () => {
      let partitioned = false;
      const start = proxy.downstreamBytes;
      proxy.onDownstream((total) => {
        if (partitioned || total - start < 50_000) return;
        partitioned = true;
        proxy.hold(true);
        proxy.cutAll();
      });
      const started = Date.now();
      const r = await runCli(['diff', ...common, `--zookeeper-fast-path=${fastPath}`, '--output=json'], env()).finally(() => {
        proxy.onDownstream(null);
        proxy.hold(false);
      });
      assert.ok(partitioned, 'the partition began during the run');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /no connection to ZooKeeper for 4s \(the session timeout ZooKeeper granted for --zookeeper-session-timeout=60s\): check that the servers are up and reachable/);
      // Not a speed check: waiting the requested 60 s is what this tells apart.
      assert.ok(Date.now() - started < 45_000, `gave up after the granted timeout, not the requested one (${Date.now() - started} ms)`);
    });

    test(`--zookeeper-fast-path=${fastPath}: a leader cut off from ZooKeeper steps down after twice the granted 4 s`, { timeout: 90_000 }, async () => {
      const w = await startWatcher([...common, `--zookeeper-fast-path=${fastPath}`, '--leader-elect=etcd', `--lease-name=${name}`], env());
      try {
        await waitForLog(w, 'full reconcile done');
        const cut = Date.now();
        proxy.hold(true);
        proxy.cutAll();
        await waitForLog(w, 'released leadership', 1, 60_000);
        assert.match(w.output(), /no ZooKeeper connection for \d+ s \(limit: twice the session timeout, 4 s from the ZooKeeper server\): giving leadership up/);
        assert.ok(Date.now() - cut < 45_000, `stepped down after twice the granted timeout, not the requested one (${Date.now() - cut} ms)`);
      } finally {
        proxy.hold(false);
        await w.stop();
      }
    });
  }
});
