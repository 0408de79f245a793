import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import { connectZk } from '../../common/zk/addon-client.js';
import { isZkOutage } from '../../common/zk/errors.js';
import { readAll } from '../../common/zk/read-all.js';
import { dubboTree } from '../helpers/dubbo.js';
import { cleanupRoot, freshName, runCli, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { CliResult, TestZk } from '../helpers/services.js';
import { zkProxy } from '../helpers/zk-proxy.js';
import type { ZkProxy } from '../helpers/zk-proxy.js';

/**
 * ZooKeeper becomes unreachable in the middle of a one-shot walk (every connection cut, new ones held:
 * a partition). A read then waits for a connection up to --zookeeper-session-timeout; the run must say
 * so, give up after that one wait (it used to retry four more such waits, silently), and stop at once on
 * SIGTERM instead of waiting for a read that cannot come back.
 */
describe('ZooKeeper unreachable in the middle of a one-shot run', () => {
  const name = freshName('zkout');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  let proxy: ZkProxy;

  const args = (timeout: string, fastPath = 'auto') => ['diff', `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--output=json', `--zookeeper-session-timeout=${timeout}`, `--zookeeper-fast-path=${fastPath}`];

  /** Runs a diff through the proxy and partitions ZooKeeper once part of the walk has arrived. */
  /** `cut`: the connections are also cut (the client sees them drop); otherwise traffic just stops, as in a real partition. */
  const partitionedRun = (timeout: string, fastPath: string, onPartition?: (child: ChildProcess) => void, cut = true): Promise<CliResult> => {
    let child: ChildProcess | undefined;
    let partitioned = false;
    const start = proxy.downstreamBytes;
    proxy.onDownstream((total) => {
      if (partitioned || total - start < 50_000) return;
      partitioned = true;
      proxy.hold(true);
      if (cut) proxy.cutAll();
      if (child) onPartition?.(child);
    });
    return runCli(args(timeout, fastPath), { ZK2ETCD_ZOOKEEPER_SERVERS: proxy.address, ZK2ETCD_LOG_LEVEL: 'info' }, (c) => (child = c)).finally(() => {
      proxy.onDownstream(null);
      proxy.hold(false);
      assert.ok(partitioned, 'the partition began during the run');
    });
  };

  before(async () => {
    zk = await testZk();
    await zk.createAll(dubboTree(root, 40, 30, 20), 300); // ~2,200 nodes of ~1 KB names: a walk of ~2 MB
    proxy = await zkProxy();
  });

  after(async () => {
    await proxy?.close();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  // The protocol client fails a read queued a whole session timeout; the addon's C client times requests
  // out again and again without saying it lost the connection, so reads failing for that long count.
  const partitions = [
    { fastPath: 'on', cut: true },
    { fastPath: 'off', cut: true },
    { fastPath: 'off', cut: false },
  ] as const;
  for (const { fastPath, cut } of partitions) {
    test(`--zookeeper-fast-path=${fastPath}, connections ${cut ? 'cut' : 'silent'}: the run fails after one session timeout of failures, naming it`, { timeout: 120_000 }, async () => {
      const started = Date.now();
      const r = await partitionedRun('10s', fastPath, undefined, cut);
      // Not a speed check: retrying each read waited four more timeouts (40-60 s in all), so a bound of
      // three tells the two apart on any machine (the protocol client takes one, the addon one to two:
      // its C client's timeouts fall where they fall).
      assert.ok(Date.now() - started < 30_000, `the run gave up after one timeout's failures, not after retries (${Date.now() - started} ms)`);
      assert.equal(r.code, 1, r.stderr);
      if (fastPath === 'on' || !cut) assert.match(r.stderr, /"msg":"ZooKeeper connection lost; reconnecting \(reads wait up to the session timeout ZooKeeper granted\)"/);
      assert.match(r.stderr, /zk2etcd diff: ZooKeeper \S+ \S+ failed: \w+ \(-\d\) \(no connection to ZooKeeper for 10s \(--zookeeper-session-timeout\): check that the servers are up and reachable\)\n/);
      assert.doesNotMatch(r.stderr, /jute\.maxbuffer/, "a lost connection's hint for one huge node would mislead here");
      const report = JSON.parse(r.stdout) as { error: { class: string } };
      assert.match(report.error.class, /^zk_(connection_loss|operation_timeout)$/);
    });

    // Waiting out the 120 s session timeout would overrun the test's own 60 s limit.
    if (!cut) continue;
    test(`--zookeeper-fast-path=${fastPath}: SIGTERM during the wait ends the run at once, not after the session timeout`, { timeout: 60_000 }, async () => {
      const r = await partitionedRun('120s', fastPath, (child) => setTimeout(() => child.kill('SIGTERM'), 500));
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /"msg":"stopping: in-flight batches finish, nothing new starts; send again to exit at once"/);
      assert.doesNotMatch(r.stderr, /no connection to ZooKeeper for/);
      assert.equal(JSON.parse(r.stdout).error.class, 'aborted');
    });
  }

  // The confirmation rounds read ZooKeeper too: partitioned during round 1's pause, stopped in round 2.
  test('SIGTERM while a confirmation round waits for ZooKeeper ends the run at once', { timeout: 60_000 }, async () => {
    await zk.create(`${root}/not-in-etcd`, Buffer.from('x')); // a difference, so that there is a round 2
    let child: ChildProcess | undefined;
    let partitioned = false;
    const run = runCli(
      [...args('120s'), '--max-round=2', '--round-interval=2s', '--log-level=debug'],
      { ZK2ETCD_ZOOKEEPER_SERVERS: proxy.address },
      (c) => {
        child = c;
        c.stderr?.on('data', (d: Buffer) => {
          if (partitioned || !d.toString().includes('chunks reconciled')) return;
          partitioned = true;
          proxy.hold(true);
          proxy.cutAll();
          setTimeout(() => c.kill('SIGTERM'), 3000); // round 2 has begun its reads
        });
      },
    );
    try {
      const r = await run;
      assert.ok(partitioned && child, 'partitioned after round 1');
      assert.equal(r.code, 1, r.stderr);
      assert.equal(JSON.parse(r.stdout).error.class, 'aborted');
    } finally {
      proxy.hold(false);
    }
  });
});

/**
 * The addon client counts reads failing for a whole session timeout as an outage. A failure long ago, the
 * connection back since, must not make the next blip one: a reconnect ends the failing spell.
 */
describe('the addon client after a failed read and a reconnect', () => {
  const name = freshName('zkblip');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  let proxy: ZkProxy;

  before(async () => {
    zk = await testZk();
    await zk.create(root, Buffer.from('v'));
    proxy = await zkProxy();
  });

  after(async () => {
    await proxy?.close();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  /** Cuts every connection while a read is in flight: the client fails it and reconnects. */
  const blip = async <T>(read: () => Promise<T>): Promise<T | Error> => {
    proxy.hold(true);
    const outcome = read().catch((err: Error) => err);
    await sleep(100);
    proxy.cutAll();
    proxy.hold(false);
    return outcome;
  };

  test('a blip a session timeout after an earlier failure is retried, not an outage', async () => {
    const conn = await connectZk({ servers: [proxy.address], sessionTimeoutMs: 4000, auth: null, logger: silentLogger() });
    try {
      const first = await blip(() => conn.get(root));
      assert.ok(first instanceof Error, 'the read in flight failed');
      assert.equal(isZkOutage(first), false);
      await sleep(5000); // connected again, idle for more than a session timeout
      const second = await blip(() => readAll(conn, [{ kind: 'data', path: root }], 4));
      assert.ok(!(second instanceof Error), `retried after the reconnect: ${String(second)}`);
      assert.equal((second as { data: Buffer }[])[0]?.data.toString(), 'v');
    } finally {
      conn.close();
    }
  });
});
