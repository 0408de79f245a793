import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const OP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every zk2etcd metric, registered in one registry (SPEC §9; names kept from zk2etcd 1.x). */
export function createMetrics(registry: Registry = new Registry()) {
  const r = [registry];
  const metrics = {
    registry,
    etcdOps: new Counter({ name: 'zk2etcd_etcd_op_total', help: 'etcd requests (op list, get, txn) and the keys put or deleted by committed transactions (op put, delete), by status', labelNames: ['op', 'status'], registers: r }),
    etcdOpSeconds: new Histogram({ name: 'zk2etcd_etcd_op_duration_seconds', help: 'etcd operation latency in seconds', labelNames: ['op'], buckets: OP_BUCKETS, registers: r }),
    zkOps: new Counter({ name: 'zk2etcd_zk_op_total', help: 'ZooKeeper operations by op and status', labelNames: ['op', 'status'], registers: r }),
    zkOpSeconds: new Histogram({ name: 'zk2etcd_zk_op_duration_seconds', help: 'ZooKeeper operation latency in seconds', labelNames: ['op'], buckets: OP_BUCKETS, registers: r }),
    fixed: new Counter({ name: 'zk2etcd_fixed_total', help: 'keys a full reconcile wrote (put) or deleted in etcd: what the incremental sync had missed, as in zk2etcd 1.x', labelNames: ['type'], registers: r }),
    applied: new Counter({ name: 'zk2etcd_applied_total', help: "keys written (put) or deleted in etcd, by the watcher's events and by full reconciles", labelNames: ['type'], registers: r }),
    zkConn: new Counter({ name: 'zk2etcd_zk_conn_total', help: 'ZooKeeper sessions set out to open (every try, failed ones included)', registers: r }),
    zkConnect: new Counter({ name: 'zk2etcd_zk_connect_total', help: 'ZooKeeper connect events, reconnects included', registers: r }),
    differences: new Gauge({ name: 'zk2etcd_differences', help: 'differences found by the last diff, by kind', labelNames: ['kind'], registers: r }),
    reconcileSeconds: new Gauge({ name: 'zk2etcd_reconcile_duration_seconds', help: 'duration of the last full reconcile in seconds', registers: r }),
    conflicts: new Counter({ name: 'zk2etcd_conflicts_total', help: 'owned keys left alone because another writer changed them (counted by every run or full reconcile that finds one, and once per watcher event), and writes whose condition failed', registers: r }),
    ownershipErrors: new Counter({ name: 'zk2etcd_ownership_errors_total', help: 'ownership store (Redis) failures', registers: r }),
    zkNodes: new Gauge({ name: 'zk2etcd_zk_nodes', help: 'znodes under the mirrored prefixes in the last walk', registers: r }),
    etcdKeys: new Gauge({ name: 'zk2etcd_etcd_keys', help: 'etcd keys under the mirrored prefixes in the last read', registers: r }),
  };
  // Both types from the start: a run that writes nothing reports 0, not no value.
  for (const type of ['put', 'delete']) {
    metrics.fixed.inc({ type }, 0);
    metrics.applied.inc({ type }, 0);
  }
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Gauges that describe a completed run: a run that failed leaves them unset rather than pushing zeros. */
export const COMPLETED_RUN_GAUGES: ReadonlySet<string> = new Set(['zk2etcd_differences', 'zk2etcd_reconcile_duration_seconds', 'zk2etcd_zk_nodes', 'zk2etcd_etcd_keys']);

/** The watcher's own metrics, registered only by `sync` (one-shot pushes never carry them). */
export function createWatcherMetrics(registry: Registry) {
  const r = [registry];
  return {
    syncLag: new Histogram({ name: 'zk2etcd_sync_lag_seconds', help: 'watcher: seconds from a ZooKeeper event to the etcd commit', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r }),
    leader: new Gauge({ name: 'zk2etcd_leader', help: 'watcher: 1 while this replica is the leader', registers: r }),
    watches: new Gauge({ name: 'zk2etcd_watches', help: 'watcher: armed ZooKeeper watches', registers: r }),
    mirroredNodes: new Gauge({ name: 'zk2etcd_mirrored_nodes', help: 'watcher: znodes followed: the last full walk\'s count on the fast path, the mirror\'s size on the addon path', registers: r }),
    pendingChanges: new Gauge({ name: 'zk2etcd_pending_changes', help: 'watcher: changes waiting to be applied', registers: r }),
    sessions: new Counter({ name: 'zk2etcd_zk_session_rebuilds_total', help: 'watcher: ZooKeeper sessions rebuilt after expiry or loss', registers: r }),
    lastSuccess: new Gauge({ name: 'zk2etcd_last_success_timestamp_seconds', help: 'watcher: unix time of the last successful full reconcile', registers: r }),
    reconcileFailures: new Counter({ name: 'zk2etcd_reconcile_failures_total', help: 'watcher: full reconciles that failed (a deletion guard refusal included)', registers: r }),
    // A state, not a count: with --fullsync-interval=0 a refused reconcile is not retried, so no count grows.
    reconcileFailing: new Gauge({ name: 'zk2etcd_reconcile_failing', help: "watcher: 1 while the leader's latest full reconcile failed (until one succeeds)", registers: r }),
  };
}

export type WatcherMetrics = ReturnType<typeof createWatcherMetrics>;

/** Registered only when a run succeeds, so a failed push never overwrites the last success. */
export function lastSuccessGauge(registry: Registry): Gauge {
  return new Gauge({ name: 'zk2etcd_last_success_timestamp_seconds', help: 'unix time of the last successful run', registers: [registry] });
}

/** Times `fn` into an op counter and histogram; status is `success` or the error's bounded class. */
export async function observe<T>(
  counter: Counter<'op' | 'status'>,
  histogram: Histogram<'op'>,
  op: string,
  classify: (err: unknown) => string,
  fn: () => Promise<T>,
): Promise<T> {
  const end = histogram.startTimer({ op });
  try {
    const v = await fn();
    counter.inc({ op, status: 'success' });
    return v;
  } catch (err) {
    counter.inc({ op, status: classify(err) });
    throw err;
  } finally {
    end();
  }
}
