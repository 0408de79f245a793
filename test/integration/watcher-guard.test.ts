import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertMirrored, cleanupRoot, etcdDump, freshName, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

const PROVIDERS = 200;

/** Dubbo provider leaves of one release: each restart makes new URLs (pid and timestamp in the name). */
const providers = (root: string, release: string): [string, Buffer][] =>
  Array.from({ length: PROVIDERS }, (_, i) => [`${root}/svc/providers/dubbo%3A%2F%2F10.0.${i >> 8}.${i & 255}%3A20880%3Fpid%3D${release}${i}`, Buffer.alloc(0)]);

/**
 * The watcher's full reconcile guards deletes net of creates: a rollout while it missed events (here: it was
 * stopped) replaces most of the tree, and must still converge; a source that lost most nodes is refused.
 */
describe('the watcher\'s deletion guard', () => {
  const name = freshName('watch-guard');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  const flags = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`];
  let zk: TestZk;
  const started: WatcherProcess[] = [];
  const start = async (): Promise<WatcherProcess> => {
    const w = await startWatcher(flags);
    started.push(w);
    return w;
  };

  before(async () => {
    zk = await testZk();
    await zk.createAll([[root, Buffer.from('r')], [`${root}/svc`, Buffer.alloc(0)], [`${root}/svc/providers`, Buffer.alloc(0)], ...providers(root, 'a')]);
  });

  after(async () => {
    // A failed test may leave a watcher running: every one is stopped (stop() on an exited one returns at once).
    await Promise.all(started.map((w) => w.stop()));
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test(`a rollout replacing ${PROVIDERS} of ${PROVIDERS + 3} nodes while the watcher was down: mirrored on restart`, { timeout: 120_000 }, async () => {
    const first = await start();
    await waitForLog(first, 'full reconcile done');
    await assertMirrored(etcd, root);
    const metrics = await (await fetch(`${first.url}/metrics`)).text();
    const lastSuccess = Number(/^zk2etcd_last_success_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(Math.abs(lastSuccess - Date.now() / 1000) < 600, `the last success is this reconcile's (${lastSuccess})`);
    assert.match(metrics, /^zk2etcd_reconcile_failures_total 0$/m);
    assert.match(metrics, /^zk2etcd_reconcile_failing 0$/m);
    assert.deepEqual(await first.stop(), { code: 0, signal: null });

    for (const [path] of providers(root, 'a')) await zk.remove(path);
    await zk.createAll(providers(root, 'b'));
    const second = await start();
    await waitForLog(second, 'full reconcile done');
    assert.doesNotMatch(second.output(), /refusing to delete/);
    await eventually(() => assertMirrored(etcd, root), 30_000);
    assert.deepEqual(await second.stop(), { code: 0, signal: null });
  });

  test('most nodes gone with nothing created while the watcher was down: refused, nothing written or deleted', { timeout: 120_000 }, async () => {
    const before = await etcdDump(etcd, root);
    const removed = providers(root, 'b').slice(0, 150);
    for (const [path] of removed) await zk.remove(path);
    await zk.create(`${root}/svc/new-node`, Buffer.from('n')); // held back with the deletes: the whole reconcile is refused
    const watcher = await start();
    await waitForLog(watcher, 'full reconcile failed; events are still applied, with --fullsync-interval=0 only a new session or leader retries it: run zk2etcd fix, or restart the watcher, once the cause is fixed');
    assert.match(watcher.output(), /"err":"refusing to delete 150 of our 203 keys while creating 1: 149 fewer \(limit 101, --max-delete\)/);
    assert.deepEqual(await etcdDump(etcd, root), before);
    // The refusal shows on /metrics: counted as a failed reconcile, no success time; the walk's node count
    // is still the fast path's mirrored nodes (it walked the whole tree).
    await eventually(async () => {
      const metrics = await (await fetch(`${watcher.url}/metrics`)).text();
      assert.match(metrics, /^zk2etcd_reconcile_failures_total 1$/m, 'one refusal, not rerun at once');
      // Without a schedule nothing reruns it, so the count stays at 1: the state is what the alert reads.
      assert.match(metrics, /^zk2etcd_reconcile_failing 1$/m);
      assert.match(metrics, /^zk2etcd_last_success_timestamp_seconds 0$/m);
      assert.match(metrics, /^zk2etcd_mirrored_nodes 54$/m, 'the root, svc, providers, 50 providers left and the new node');
    }, 10_000);
    assert.deepEqual(await watcher.stop(), { code: 0, signal: null });
  });
});
