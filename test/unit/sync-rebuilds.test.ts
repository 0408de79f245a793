import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../common/config/load.js';
import type { EtcdStore } from '../../common/etcd/store.js';
import { noLeaderElection } from '../../common/leader/lock.js';
import { silentLogger } from '../../common/logger.js';
import { createMetrics, createWatcherMetrics } from '../../common/metrics.js';
import type { OwnershipStore } from '../../common/ownership/store.js';
import type { ZkSession, ZkSessionHooks } from '../../common/zk/reader.js';
import { runSync } from '../../watcher/sync.js';
import { emptyZkSession } from '../helpers/empty-zk-session.js';

const REBUILDS = 12;

/** Every store call fails at once (not retryable): each session's reconcile fails fast and is only logged. */
const failing = <T extends object>(what: string): T =>
  new Proxy({} as T, {
    get: () => () => Promise.reject(new Error(`${what}: not available in this test`)),
  });

/** A protocol-client session with nothing under the prefix: it arms its tree watch and is lost soon after. */
function session(hooks: ZkSessionHooks): ZkSession {
  setTimeout(() => hooks.onLost?.(), 5);
  return emptyZkSession();
}

test('session rebuilds leave no listeners behind on the watcher\'s signals', { timeout: 60_000 }, async () => {
  const config = loadConfig({
    command: 'sync',
    argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=etcd:2379', '--redis-server=redis:6379', '--zookeeper-prefix=/p', '--zookeeper-exclude-prefix=', '--fullsync-interval=0', '--leader-elect=none'],
    env: {},
  });
  const metrics = createMetrics();
  const stop = new AbortController();
  // The watcher's own signals are private: a listener left on one per session shows as Node's leak warning (past 10).
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  let sessions = 0;
  await runSync({
    config,
    metrics,
    watcherMetrics: createWatcherMetrics(metrics.registry),
    logger: silentLogger(),
    lock: noLeaderElection(),
    etcd: failing<EtcdStore>('etcd'),
    ownership: failing<OwnershipStore>('ownership'),
    openZk: async (hooks, signal) => {
      assert.equal(signal.aborted, false);
      if (++sessions > REBUILDS) stop.abort();
      return session(hooks);
    },
    signal: stop.signal,
  });
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  process.off('warning', onWarning);
  assert.equal(sessions, REBUILDS + 1, 'a session per rebuild');
  const rebuilt = (await metrics.registry.getSingleMetric('zk2etcd_zk_session_rebuilds_total')?.get())?.values[0]?.value;
  assert.equal(rebuilt, REBUILDS);
  assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
});
