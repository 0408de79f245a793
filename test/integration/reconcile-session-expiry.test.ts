import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { dubboTree } from '../helpers/dubbo.js';
import { privateZk } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { assertMirrored, etcdDump, freshName, jsonReport, runCli, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { CliResult, TestZk } from '../helpers/services.js';
import { eventually } from '../helpers/watcher-process.js';
import { zkProxy } from '../helpers/zk-proxy.js';
import type { ZkProxy } from '../helpers/zk-proxy.js';

/**
 * The ZooKeeper session of a one-shot run expires in the middle of its walk: the process is frozen
 * (SIGSTOP, as in a long GC pause or a stopped container) once part of a 12,000-node tree has arrived,
 * stays frozen until the server has expired the session and closed its connection, then resumes. The
 * run must either finish correctly or fail with exit 1 and a message naming the expiry, having changed
 * nothing: a partial walk must never be taken for the whole tree (hundreds of "extra" keys, a mass
 * delete). Both ZooKeeper clients are run: the protocol client (fast path) and the addon.
 */
describe('a ZooKeeper session expiring in the middle of a one-shot walk', () => {
  const name = freshName('expiry');
  const root = `/${name}`;
  const hash = ownershipHashKey(name);
  const foreignKey = `${root}/foreign-config`;
  let zkServer: PrivateServer;
  let proxy: ZkProxy;
  let zk: TestZk;
  const etcd: Etcd3 = testEtcd();
  const redis = testRedis();
  /** ZooKeeper bytes one full walk receives, per client (measured, so the freeze lands mid-walk). */
  const walkBytes = new Map<string, number>();
  let drift = 0;
  /** stderr of the frozen runs that failed, by `${command} ${mode}`. */
  const failures = new Map<string, string>();

  const args = (command: string, mode: string) => [command, `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--output=json', `--zookeeper-fast-path=${mode}`];
  const direct = (command: string, mode = 'auto') => runCli(args(command, mode), { ZK2ETCD_ZOOKEEPER_SERVERS: zkServer.address });

  /** Through the proxy with a 2 s session; frozen after `freezeAt` bytes until the server dropped the session. */
  const frozenRun = async (command: string, mode: string, freezeAt: number): Promise<{ result: CliResult; froze: boolean }> => {
    let child: ChildProcess | undefined;
    let froze = false;
    const start = proxy.downstreamBytes;
    proxy.onDownstream((total) => {
      if (!froze && child && total - start >= freezeAt) {
        froze = true;
        child.kill('SIGSTOP');
      }
    });
    const run = runCli([...args(command, mode), '--zookeeper-session-timeout=2s'], { ZK2ETCD_ZOOKEEPER_SERVERS: proxy.address }, (c) => (child = c));
    try {
      await eventually(async () => assert.ok(froze || (child !== undefined && child.exitCode !== null), 'frozen or done'), 60_000, 20);
      // The server expires the silent session (2 s) and closes its connection: the proxy sees it go.
      if (froze) await eventually(async () => assert.equal(proxy.open, 0, 'the server closed the expired session'), 30_000, 100);
    } finally {
      proxy.onDownstream(null);
      child?.kill('SIGCONT');
    }
    return { result: await run, froze };
  };

  /** Deletes, creates and rewrites a few providers so the next run has work of every kind. */
  const makeDrift = async (): Promise<void> => {
    drift++;
    const iface = `${root}/com.example.service.Service${drift}`;
    const providers = (await zk.children(`${iface}/providers`)).slice(0, 10);
    for (const p of providers.slice(0, 5)) await zk.remove(`${iface}/providers/${p}`);
    for (const p of providers.slice(5, 10)) await zk.set(`${iface}/providers/${p}`, Buffer.from(`changed in round ${drift}`));
    for (let i = 0; i < 5; i++) await zk.create(`${iface}/providers/new-${drift}-${i}`, Buffer.from(`new ${i}`));
  };

  before(async () => {
    zkServer = await privateZk();
    await zkServer.start();
    proxy = await zkProxy(zkServer.address);
    zk = await testZk(zkServer.address);
    const nodes = dubboTree(root, 120, 60, 35);
    assert.ok(nodes.length > 10_000);
    await zk.createAll(nodes, 300);
    const first = await direct('fix');
    assert.equal(first.code, 0, first.stderr);
    await etcd.put(foreignKey).value('written by another tool');
    for (const mode of ['auto', 'off']) {
      const start = proxy.downstreamBytes;
      const full = await runCli(args('diff', mode), { ZK2ETCD_ZOOKEEPER_SERVERS: proxy.address });
      assert.equal(full.code, 0, full.stderr);
      walkBytes.set(mode, proxy.downstreamBytes - start);
    }
  });

  after(async () => {
    proxy?.onDownstream(null);
    zk?.close();
    await proxy?.close();
    await etcd.delete().prefix(root);
    await redis.del(hash);
    etcd.close();
    redis.disconnect();
    await zkServer?.cleanup();
  });

  for (const mode of ['auto', 'off']) {
    const client = mode === 'auto' ? 'protocol client' : 'addon';
    for (const command of ['diff', 'fix']) {
      test(`${command} (${client}): completes correctly or fails with exit 1 having changed nothing`, async (t) => {
        await makeDrift();
        const etcdBefore = await etcdDump(etcd, root);
        const { result, froze } = await frozenRun(command, mode, Math.floor((walkBytes.get(mode) as number) * 0.4));
        assert.ok(froze, `the run was frozen mid-walk (exit ${result.code}: ${result.stderr.slice(-500)})`);
        t.diagnostic(`exit ${result.code}; stderr: ${result.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
        assert.ok([0, 1, 3].includes(result.code), `exit ${result.code}: ${result.stderr}`);
        if (result.code === 1) {
          failures.set(`${command} ${mode}`, result.stderr);
          assert.deepEqual(await etcdDump(etcd, root), etcdBefore, 'a failed run changed nothing in etcd');
        } else {
          // It finished: its view of ZooKeeper must be the whole tree, not the part read before the freeze.
          const report = jsonReport(result);
          assert.deepEqual(
            { missing: report.counts.missing, changed: report.counts.changed, extra: report.counts.extra },
            { missing: 5, changed: 5, extra: 5 },
            'exactly the drift, not a partial tree',
          );
          if (command === 'diff') {
            assert.equal(result.code, 3);
            assert.deepEqual(await etcdDump(etcd, root), etcdBefore, 'diff changed nothing');
          } else {
            assert.equal(result.code, 0, result.stderr);
            await assertMirrored(etcd, root, [foreignKey], zkServer.address);
          }
        }
        // Whatever happened, the next ordinary run converges and the foreign key is untouched.
        const again = await direct('fix', mode);
        assert.equal(again.code, 0, again.stderr);
        await assertMirrored(etcd, root, [foreignKey], zkServer.address);
        assert.equal(await etcd.get(foreignKey).string(), 'written by another tool');
      });

      // With the addon, a read started after it closed the expired session fails with ZINVALIDSTATE
      // (-9), which is reported as invalid_state naming the expiry.
      test(`${command} (${client}): a failure names the expired session`, () => {
        const stderr = failures.get(`${command} ${mode}`);
        if (stderr === undefined) return; // the run completed instead
        assert.match(stderr, /session expired/i);
      });
    }
  }
});
