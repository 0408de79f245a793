import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { isPendingValue } from '../../common/ownership/store.js';
import { assertMirrored, cleanupRoot, freshName, jsonReport, runCli, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';
import { FakeLeaseServer } from '../helpers/fake-lease-server.js';

const NODES = 400;

/**
 * A leader frozen (SIGSTOP) in the middle of a burst, replaced by the standby, then resumed (SIGCONT):
 * whatever it had in flight must not overwrite the new leader's ownership records. Had it done so, a
 * key the new leader wrote would read as another writer's and outlive its znode.
 */
for (const election of ['etcd', 'kubernetes'] as const) {
  describe(`watcher (--leader-elect ${election}): a leader frozen mid-burst and resumed after the standby took over`, () => {
    const name = freshName('frozen');
    const root = `/${name}`;
    const etcd = testEtcd();
    const redis = testRedis();
    let zk: TestZk;
    const watchers: WatcherProcess[] = [];
    // etcd: the resumed leader's writes fail on the fence (its leader key). kubernetes: nothing fences its
    // etcd writes; only the compare-and-set records keep it from overwriting the new leader's.
    const args = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, `--leader-elect=${election}`, `--lease-name=${name}`];
    const env: Record<string, string> = {};
    let fake: FakeLeaseServer | undefined;

    before(async () => {
      if (election === 'kubernetes') {
        fake = await FakeLeaseServer.start();
        env.KUBECONFIG = fake.kubeconfig();
        args.push('--lease-namespace=zk2etcd');
      }
      zk = await testZk();
      const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
      for (let i = 0; i < NODES; i++) nodes.push([`${root}/n${i}`, Buffer.from(`v${i}`)]);
      await zk.createAll(nodes);
    });

    after(async () => {
      for (const w of watchers) w.child.kill('SIGCONT');
      await Promise.all(watchers.map((w) => w.stop()));
      await etcd.delete().prefix(`zk2etcd/leader/${name}`);
      await fake?.close();
      await cleanupRoot({ zk, etcd, redis, root, instance: name });
    });

    test('the resumed leader exits; the new leader keeps exact records and deletes what goes away', async () => {
      const frozen = await startWatcher(args, env);
      watchers.push(frozen);
      await waitForLog(frozen, 'full reconcile done');
      const standby = await startWatcher(args, env);
      watchers.push(standby);

      // A stream of data changes, so that writes are in flight (committed in etcd, their records not yet
      // updated) when the leader is stopped, and the same keys are rewritten by the new leader.
      let streaming = true;
      const stream = (async () => {
        for (let round = 0; streaming; round++) {
          const sets: Promise<void>[] = [];
          for (let i = 0; i < NODES; i++) sets.push(zk.set(`${root}/n${i}`, Buffer.from(`r${round}-${i}`)));
          await Promise.all(sets);
          await sleep(20);
        }
      })();
      await sleep(1000);
      frozen.child.kill('SIGSTOP');
      await sleep(1500);
      streaming = false;
      await stream;

      await waitForLog(standby, 'became leader', 1, 60_000);
      await eventually(() => assertMirrored(etcd, root), 60_000);

      frozen.child.kill('SIGCONT');
      const res = await frozen.exited;
      assert.notEqual(res.code, 0, `the deposed leader must not carry on: ${frozen.output().slice(-1500)}`);

      // After the resumed process is gone: more changes, including deletes, all followed by the new leader.
      const changes: Promise<void>[] = [];
      for (let i = 0; i < NODES; i += 2) changes.push(zk.remove(`${root}/n${i}`));
      for (let i = 1; i < NODES; i += 2) changes.push(zk.set(`${root}/n${i}`, Buffer.from(`after${i}`)));
      await Promise.all(changes);
      await eventually(() => assertMirrored(etcd, root), 60_000);

      // Every key's record holds its etcd revision, none the deposed leader's stale one. A `pending` mark the
      // deposed leader made after resuming, before it saw it had lost, may outlive a deleted key (a crash
      // leftover, never a revision): the next full reconcile prunes it.
      const check = async (allowPendingLeftovers: boolean) => {
        const records = await redis.hgetall(ownershipHashKey(name));
        const kvs = (await etcd.getAll().prefix(root).exec()).kvs; // the root and its children (the name is unique)
        const wrong = kvs.filter((kv) => records[kv.key.toString()] !== kv.mod_revision).map((kv) => `${kv.key.toString()}: record ${records[kv.key.toString()]}, revision ${kv.mod_revision}`);
        const inEtcd = new Set(kvs.map((kv) => kv.key.toString()));
        const stale = Object.entries(records).filter(([k, v]) => !inEtcd.has(k) && !(allowPendingLeftovers && isPendingValue(v)));
        assert.deepEqual([wrong.slice(0, 5), stale.slice(0, 5)], [[], []]);
      };
      await eventually(() => check(true), 30_000);

      const flags = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--output=json'];
      const reconciled = jsonReport(await runCli(['reconcile', ...flags]));
      assert.equal(reconciled.inSync, true);
      assert.deepEqual([reconciled.counts.foreign, reconciled.counts.conflict], [0, 0]);
      await check(false);
    });
  });
}
