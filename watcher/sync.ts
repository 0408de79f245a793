import { setTimeout as sleep } from 'node:timers/promises';
import type { PlanWriter } from '../common/apply/writer.js';
import { etcdWriter } from '../common/apply/etcd-writer.js';
import type { Config } from '../common/config/types.js';
import type { EtcdStore } from '../common/etcd/store.js';
import { AbortedError, LeadershipLostError, SteppedDownError, ZkError } from '../common/errors.js';
import { writeFence, type LeaderLock } from '../common/leader/lock.js';
import type { Logger } from '../common/logger.js';
import type { Metrics, WatcherMetrics } from '../common/metrics.js';
import type { OwnershipStore } from '../common/ownership/store.js';
import { keyMapper } from '../common/paths.js';
import { once, settledOrAborted, waitAtMost } from '../common/wait-at-most.js';
import { reconcile } from '../common/reconcile.js';
import { hasTreeWatches, type ZkSession, type ZkTreeWatchReader, type ZkWatchReader } from '../common/zk/reader.js';
import { ChangeQueue } from './change-queue.js';
import { openZkRetrying, type OpenZk } from './open-zk-retrying.js';
import { scheduleReconcile } from './schedule.js';
import { SharedExclusiveLock } from './shared-exclusive-lock.js';
import { SingleRun } from './single-run.js';
import { TreeFollower } from './tree-follower.js';
import { TreeWatcher } from './tree-watcher.js';
import { reconcileWithRetry } from './reconcile-with-retry.js';
import { trackedReconcile } from './tracked-reconcile.js';
import { withoutKeys } from './without-keys.js';
import { ZkOutageLimit } from './zk-outage-limit.js';

/** How long shutdown waits for a running full reconcile (etcd or Redis may not answer) before abandoning it. */
const RECONCILE_STOP_GRACE_MS = 5000;

export interface SyncDeps {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly watcherMetrics: WatcherMetrics;
  readonly logger: Logger;
  readonly lock: LeaderLock;
  /** Opens a ZooKeeper session (the protocol client with tree watches, or the addon with one-shot watches); gives up with AbortedError once `signal` aborts. */
  readonly openZk: OpenZk;
  readonly etcd: EtcdStore;
  readonly ownership: OwnershipStore;
  /** Aborted on SIGTERM: stop taking events, finish the flush in flight, release leadership. */
  readonly signal: AbortSignal;
  /** Reports readiness changes (connected to ZooKeeper). */
  readonly onReady?: (ready: boolean) => void;
  /** With an election, how long the leader may go without a ZooKeeper connection before stepping down (default: twice the session timeout). */
  readonly zkOutageLimitMs?: number;
}

/**
 * The watcher (SPEC §5): once leader, mirror and watch the tree, apply every change through the change
 * queue, run a full reconcile after every (re)load and on schedule. Returns on SIGTERM; throws
 * LeadershipLostError when leadership is lost.
 */
export async function runSync(deps: SyncDeps): Promise<void> {
  const { config, metrics, logger, lock } = deps;
  const wm = deps.watcherMetrics;
  try {
    await lock.acquire(deps.signal);
  } catch (err) {
    // SIGTERM to a standby: it never led, so there is nothing to finish (SPEC §5: exit 0).
    if (err instanceof AbortedError && deps.signal.aborted) return;
    throw err;
  }
  wm.leader.set(1);
  // A lost leadership shows at once, not after the shutdown's waits: another replica may lead already.
  const notLeader = (): void => wm.leader.set(0);
  lock.lost.addEventListener('abort', notLeader, { once: true });
  logger.info('became leader');
  const stop = AbortSignal.any([deps.signal, lock.lost]);
  let fatal: unknown = null;
  const fail = new AbortController();
  // The server clamps the requested session timeout (to 4–40 s by default): its session is gone after
  // the granted one, so that is what the step-down waits twice of.
  let sessionTimeoutMs = config.zookeeper.sessionTimeoutMs;
  let timeoutSource = '--zookeeper-session-timeout'; // until a session is granted one
  const limitMs = (): number => deps.zkOutageLimitMs ?? 2 * sessionTimeoutMs;
  // With no standby (--leader-elect none) there is no one to hand over to: keep retrying instead.
  const outage = config.leaderElect === 'none' ? null : new ZkOutageLimit(limitMs, (ms) => {
    fatal = new SteppedDownError(`no ZooKeeper connection for ${Math.round(ms / 1000)} s (limit: twice the session timeout, ${sessionTimeoutMs / 1000} s from ${timeoutSource}): giving leadership up so a replica that reaches ZooKeeper can lead`);
    fail.abort();
  });
  const ready = (up: boolean): void => {
    deps.onReady?.(up);
    if (up) outage?.up();
    else outage?.down();
  };
  ready(false); // a leader is ready once its ZooKeeper session is up
  const mapper = keyMapper(config.etcd.prefix);
  const writeLock = new SharedExclusiveLock();
  const writer: PlanWriter = etcdWriter({ etcd: deps.etcd, ownership: deps.ownership, metrics, logger, fence: writeFence(lock), eventLog: config.enableEventLog });
  const queue = new ChangeQueue({
    etcd: deps.etcd,
    ownership: deps.ownership,
    writer,
    logger,
    writeLock,
    onApplied: (lag) => wm.syncLag.observe(lag),
    onConflicts: (keys) => {
      metrics.conflicts.inc(keys.length);
      logger.warn({ keys: keys.slice(0, 5), count: keys.length }, 'keys another writer changed since our write were left alone');
    },
    onFatal: (err) => {
      fatal = err;
      fail.abort();
    },
  });
  /** Changes seen before events may have been missed: the reconcile that follows covers them (see discardPending). */
  const discardStale = async (): Promise<void> => {
    const dropped = await queue.discardPending();
    if (dropped > 0) logger.info({ dropped }, 'changes seen before the missed events dropped: the reconcile that follows reads them again');
  };
  // Keys changed by events while a full reconcile runs belong to the event path, which has newer state.
  let touched: Set<string> | null = null;
  const fullReconcile = async (reason: string): Promise<void> => {
    touched = new Set();
    try {
      const reconcileWriter = withoutKeys(writer, () => touched ?? new Set());
      // The guard counts deletes beyond the creates: after missed events (a restart, a failover, a lost
      // connection) during a rollout, counting every delete would refuse for good, creates included.
      const opts = { ...config, guardNetOfCreates: true };
      const result = await reconcile(opts, { zk: live.session as ZkSession, etcd: deps.etcd, ownership: deps.ownership }, {
        metrics,
        logger,
        signal: AbortSignal.any([stop, fail.signal]), // a fatal write error ends the run too
        writer: { write: (p, s) => writeLock.exclusive(() => reconcileWriter.write(p, s)) },
      });
      logger.info({ reason, applied: result.applied, conflict: result.summary.counts.conflict, seconds: result.durationSeconds }, 'full reconcile done');
    } finally {
      touched = null;
    }
  };
  // One reconcile at a time; a request while one runs queues one more run (the latest reason wins).
  const reconciles = new SingleRun(
    trackedReconcile(fullReconcile, { metrics, watcherMetrics: wm, stopping: () => stop.aborted || fail.signal.aborted, walked: (n) => (live.followed = n) }),
  );
  const requestReconcile = (reason: string): Promise<void> => reconciles.request(reason);

  // Replaced on every session rebuild; read by the gauges and the reconcile.
  const live: { session: ZkSession | null; watcher: TreeWatcher | null; treeWatches: number; followed: number } = {
    session: null,
    watcher: null,
    treeWatches: 0,
    followed: 0,
  };
  let rebuilds = 0;
  // A scheduled run the shutdown ends (its session closed under it) did not fail.
  const scheduled = (): Promise<void> => requestReconcile('scheduled').catch((err: unknown) => (stop.aborted || fail.signal.aborted ? undefined : Promise.reject(err)));
  const schedule = scheduleReconcile(config.fullSync, scheduled, logger);
  const gauges = setInterval(() => {
    wm.watches.set(live.watcher?.watchCount ?? live.treeWatches);
    wm.mirroredNodes.set(live.watcher?.size ?? live.followed);
    wm.pendingChanges.set(queue.size);
  }, 1000);
  const push = (path: string, data: Buffer | null, since: number, zxid?: number): void => {
    const key = mapper.toKey(path);
    touched?.add(key);
    queue.push(key, data, since, zxid);
  };
  const zkOpts = { prefixes: config.zookeeper.prefixes, excludes: config.zookeeper.excludes, skipEphemeral: config.zookeeper.skipEphemeral };

  /** Addon client: load the mirror with one-shot watches on every node; returns its stop. */
  const startMirror = async (session: ZkSession & ZkWatchReader, lost: AbortController): Promise<() => void> => {
    const previous = new Set(live.watcher?.paths() ?? []);
    let loading = true;
    const watcher = new TreeWatcher(session, {
      ...zkOpts,
      concurrency: config.concurrent,
      logger,
      onChange: (path, data, mzxid) => {
        previous.delete(path);
        // Loading is not a change: only events feed the sync-lag histogram.
        push(path, data, loading ? Number.NaN : performance.now(), mzxid);
      },
      onError: (err) => {
        logger.warn({ err: (err as Error).message }, 'ZooKeeper read failed while watching; rebuilding the session');
        lost.abort();
      },
    });
    live.watcher = watcher;
    // SIGTERM, a lost leadership or session, or a fatal write error stops the load (which may take minutes
    // at 10^6 nodes) and the wait for its writes.
    const until = AbortSignal.any([lost.signal, stop, fail.signal]);
    const stopLoading = (): void => watcher.stop();
    until.addEventListener('abort', stopLoading, { once: true });
    try {
      if (until.aborted) throw new AbortedError('stopped before loading the tree'); // e.g. SIGTERM while the session opened
      await watcher.start();
      if (until.aborted) throw new AbortedError('stopped while loading the tree');
      loading = false;
      // Nodes mirrored before a session loss and not found now were deleted meanwhile.
      for (const path of previous) queue.push(mapper.toKey(path), null, Number.NaN); // no event: a repair
      await Promise.race([queue.idle(), once(until)]);
      if (until.aborted) throw new AbortedError('stopped while applying the loaded tree');
    } finally {
      until.removeEventListener('abort', stopLoading);
    }
    return () => watcher.stop();
  };

  /** Protocol client: one persistent recursive watch per prefix, armed before the reconcile reads. */
  const startFollowing = async (session: ZkSession & ZkTreeWatchReader, lost: AbortController, hooks: MutableHooks): Promise<() => void> => {
    const until = AbortSignal.any([lost.signal, stop, fail.signal]);
    const follower = new TreeFollower(session, {
      ...zkOpts,
      onChange: push,
      onError: (err) => {
        logger.warn({ err: (err as Error).message }, 'ZooKeeper read failed while following; rebuilding the session');
        lost.abort();
      },
    });
    hooks.onTreeEvent = (path) => follower.event(path);
    hooks.onReconnect = () => {
      logger.warn('reconnected to ZooKeeper: reconciling, since watch events are not delivered while disconnected');
      void discardStale().then(() => reconcileWithRetry(requestReconcile, 'reconnected', until, logger, config.fullSync.kind !== 'off'));
    };
    live.watcher = null;
    live.treeWatches = 0;
    for (const prefix of config.zookeeper.prefixes) {
      await session.watchTree(prefix);
      live.treeWatches++;
    }
    return () => follower.stop();
  };

  /** One ZooKeeper session: watch, reconcile, follow events until the session or the run ends. */
  const runSession = async (): Promise<void> => {
    const lost = new AbortController();
    const hooks: MutableHooks = { onTreeEvent: () => undefined, onReconnect: () => undefined };
    let open = false; // this session's connection changes count for readiness only while it is the live one
    const onConnection = (up: boolean): void => {
      if (!open) return;
      if (!up) logger.warn('disconnected from ZooKeeper: not ready until the connection is back');
      ready(up);
    };
    // Not ready while ZooKeeper cannot be reached; SIGTERM ends the wait.
    const session = await openZkRetrying(deps.openZk, { onLost: () => lost.abort(), onTreeEvent: (p) => hooks.onTreeEvent(p), onReconnect: () => hooks.onReconnect(), onConnection }, AbortSignal.any([stop, fail.signal]), logger);
    live.session = session;
    sessionTimeoutMs = session.grantedTimeoutMs();
    timeoutSource = 'the ZooKeeper server';
    open = true;
    ready(true);
    let stopWatching = (): void => undefined;
    try {
      stopWatching = hasTreeWatches(session) ? await startFollowing(session, lost, hooks) : await startMirror(session, lost);
      const reason = rebuilds > 0 ? 'session rebuilt' : 'became leader';
      // One signal of this session's own: listeners on `stop` would pile up over rebuilds.
      const ended = AbortSignal.any([lost.signal, stop, fail.signal]);
      try {
        // Not waited for past the session's end: a reconcile hung on etcd or Redis is left to the shutdown's bounded wait.
        await settledOrAborted(requestReconcile(reason), ended);
      } catch (err) {
        if (lost.signal.aborted || stop.aborted) throw err;
        // Retried with backoff if it may pass next time (etcd or Redis down); a deletion guard's refusal is not rerun at once.
        void reconcileWithRetry(requestReconcile, reason, ended, logger, config.fullSync.kind !== 'off', { err });
      }
      if (!ended.aborted) schedule.start();
      await once(ended);
    } catch (err) {
      // A ZooKeeper error while loading (e.g. the session expired before its close event arrived) means
      // this session is unusable: rebuild it. Anything else is a bug or a lost leadership: stop.
      if (err instanceof ZkError && !stop.aborted) {
        logger.warn({ err: (err as Error).message }, 'ZooKeeper failed while loading the tree; rebuilding the session');
        lost.abort();
      } else if (!lost.signal.aborted && !stop.aborted && !fail.signal.aborted) throw err;
    } finally {
      open = false;
      schedule.stop();
      stopWatching();
      session.close();
      ready(false);
    }
    if (lost.signal.aborted && !stop.aborted) {
      await discardStale();
      rebuilds++;
      wm.sessions.inc();
      logger.warn('ZooKeeper session lost; rebuilding the session, re-walking and reconciling');
      await sleep(200);
    }
  };

  try {
    while (!stop.aborted && !fail.signal.aborted) await runSession();
  } catch (err) {
    // Stopped by SIGTERM, a lost leadership or a fatal error (thrown below): not a failure of its own.
    if (!(err instanceof AbortedError) || !(stop.aborted || fail.signal.aborted)) throw err;
  } finally {
    outage?.up();
    clearInterval(gauges);
    schedule.stop();
    live.watcher?.stop();
    // A reconcile still running (scheduled, or after a reconnect) stops at `stop` (no new write, no retry)
    // and ends before the clients close; one waiting on an etcd or Redis that does not answer is abandoned.
    const reconciling = reconciles.current;
    if (reconciling && !(await waitAtMost(reconciling, RECONCILE_STOP_GRACE_MS))) logger.warn({ graceMs: RECONCILE_STOP_GRACE_MS }, 'the running full reconcile waits on etcd or Redis: abandoned');
    await queue.stop();
    lock.lost.removeEventListener('abort', notLeader);
    notLeader();
    // A process that stands by after stepping down reports no leader's state.
    for (const gauge of [wm.watches, wm.mirroredNodes, wm.pendingChanges, wm.reconcileFailing]) gauge.set(0);
  }
  if (fatal) throw fatal;
  if (lock.lost.aborted) throw new LeadershipLostError('leadership lost; stopped writing');
}

interface MutableHooks {
  onTreeEvent: (path: string) => void;
  onReconnect: () => void;
}

