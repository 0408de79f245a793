import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../common/config/load.js';
import type { EtcdStore } from '../../common/etcd/store.js';
import { LeadershipLostError, SteppedDownError, ZkError } from '../../common/errors.js';
import type { LeaderLock } from '../../common/leader/lock.js';
import { silentLogger } from '../../common/logger.js';
import { createMetrics, createWatcherMetrics } from '../../common/metrics.js';
import type { OwnershipStore } from '../../common/ownership/store.js';
import type { ZkSessionHooks } from '../../common/zk/reader.js';
import { runSync } from '../../watcher/sync.js';
import { emptyZkSession } from '../helpers/empty-zk-session.js';

/** Every store call waits forever: etcd or Redis not answering, so shutdown waits its grace period. */
const hanging = <T extends object>(): T => new Proxy({} as T, { get: () => () => new Promise(() => undefined) });

/** A lock whose leadership the test takes away. */
function takeableLock(): LeaderLock & { take(): void } {
  const lost = new AbortController();
  return {
    acquire: async () => undefined,
    lost: lost.signal,
    fence: () => undefined,
    isLeader: () => !lost.signal.aborted,
    release: async () => undefined,
    take: () => lost.abort(),
  };
}

const session = emptyZkSession();

const config = (leaderElect = 'none') =>
  loadConfig({
    command: 'sync',
    argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=etcd:2379', '--redis-server=redis:6379', '--zookeeper-prefix=/p', '--zookeeper-exclude-prefix=', '--fullsync-interval=0', `--leader-elect=${leaderElect}`],
    env: {},
  });

/** runSync as leader with etcd and Redis hung: its first full reconcile never ends. */
async function leadingWithHungStores() {
  const metrics = createMetrics();
  const watcherMetrics = createWatcherMetrics(metrics.registry);
  const leader = async (): Promise<number | undefined> => (await watcherMetrics.leader.get()).values[0]?.value;
  const lock = takeableLock();
  const sigterm = new AbortController();
  let opened!: () => void;
  const sessionOpen = new Promise<void>((resolve) => (opened = resolve));
  const state = { settled: false };
  const run = runSync({
    config: config(),
    metrics,
    watcherMetrics,
    logger: silentLogger(),
    lock,
    etcd: hanging<EtcdStore>(),
    ownership: hanging<OwnershipStore>(),
    openZk: async () => {
      opened();
      return session;
    },
    signal: sigterm.signal,
  }).finally(() => (state.settled = true));
  run.catch(() => undefined);
  await sessionOpen;
  assert.equal(await leader(), 1);
  const gauge = async (name: string): Promise<number | undefined> => (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value;
  return { run, lock, sigterm, leader, state, gauge };
}

// Without a bound on the wait for the first reconcile these runs never end: the test's timeout fails them.
test('leadership lost while the first reconcile hangs: zk2etcd_leader is 0 at once, and the run ends with LeadershipLostError', { timeout: 30_000 }, async () => {
  const { run, lock, leader, state } = await leadingWithHungStores();
  lock.take();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(state.settled, false, 'the run still waits for its reconcile (up to 5 s)');
  assert.equal(await leader(), 0, 'not reported as leader meanwhile');
  await assert.rejects(run, LeadershipLostError);
  assert.equal(await leader(), 0);
});

test('SIGTERM while the first reconcile hangs: the run ends (the reconcile is abandoned) and reports no leader and no leader\'s state', { timeout: 30_000 }, async () => {
  const { run, sigterm, leader, gauge } = await leadingWithHungStores();
  // The tree watch is armed: the gauges (refreshed every second) show it.
  for (let i = 0; i < 100 && (await gauge('zk2etcd_watches')) !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await gauge('zk2etcd_watches'), 1);
  sigterm.abort();
  await run;
  assert.equal(await leader(), 0);
  assert.equal(await gauge('zk2etcd_watches'), 0, 'a process standing by after a step-down must not report a leader\'s watches');
});

/** A leader whose ZooKeeper cannot be reached: every open fails as a retryable connection loss. */
function leadingWithoutZooKeeper(leaderElect: 'etcd' | 'none') {
  const metrics = createMetrics();
  const lock = takeableLock();
  const sigterm = new AbortController();
  let opens = 0;
  const state = { settled: false };
  const run = runSync({
    config: config(leaderElect),
    metrics,
    watcherMetrics: createWatcherMetrics(metrics.registry),
    logger: silentLogger(),
    lock,
    etcd: hanging<EtcdStore>(),
    ownership: hanging<OwnershipStore>(),
    openZk: async () => {
      opens++;
      throw new ZkError(-4, '/', 'connect', 'cannot connect to ZooKeeper (test)', true);
    },
    signal: sigterm.signal,
    zkOutageLimitMs: 300,
  }).finally(() => (state.settled = true));
  run.catch(() => undefined);
  return { run, sigterm, state, opens: () => opens };
}

test('with an election, a leader without ZooKeeper past the limit steps down (SteppedDownError), so a standby can lead', { timeout: 30_000 }, async () => {
  const { run, opens } = leadingWithoutZooKeeper('etcd');
  await assert.rejects(run, (err: unknown) => err instanceof SteppedDownError && /no ZooKeeper connection for \d+ s/.test(err.message));
  assert.ok(opens() >= 1);
});

test('with --leader-elect none (no standby) it keeps retrying past the limit, until SIGTERM', { timeout: 30_000 }, async () => {
  const { run, sigterm, state, opens } = leadingWithoutZooKeeper('none');
  await new Promise((resolve) => setTimeout(resolve, 1500)); // five times the limit
  assert.equal(state.settled, false);
  assert.ok(opens() >= 2, 'still retrying');
  sigterm.abort();
  await run;
});

test('the step-down limit is twice the session timeout the server granted, not the one requested (a 30 s request granted 0.2 s)', { timeout: 30_000 }, async () => {
  const metrics = createMetrics();
  let hooks: ZkSessionHooks = {};
  const started = Date.now();
  const run = runSync({
    config: config('etcd'), // requests the default 30 s: a limit of 60 s
    metrics,
    watcherMetrics: createWatcherMetrics(metrics.registry),
    logger: silentLogger(),
    lock: takeableLock(),
    etcd: hanging<EtcdStore>(),
    ownership: hanging<OwnershipStore>(),
    openZk: async (h) => {
      hooks = h;
      setTimeout(() => hooks.onConnection?.(false), 50); // dropped once open, and never back
      return emptyZkSession(200);
    },
    signal: new AbortController().signal,
  });
  await assert.rejects(run, (err: unknown) => err instanceof SteppedDownError && /\(limit: twice the session timeout, 0\.2 s from the ZooKeeper server\)/.test(err.message));
  assert.ok(Date.now() - started < 20_000, 'stepped down long before twice the requested 30 s');
});
