import { AbortedError } from '../common/errors.js';
import type { Metrics, WatcherMetrics } from '../common/metrics.js';

export interface TrackedReconcileDeps {
  readonly metrics: Metrics;
  readonly watcherMetrics: WatcherMetrics;
  /** True once the watcher is stopping: a reconcile it ends is not a failure. */
  readonly stopping: () => boolean;
  /** The node count of the reconcile's walk (zk2etcd_zk_nodes): the fast path's mirrored nodes. */
  readonly walked: (nodes: number) => void;
}

/**
 * A full reconcile that leaves its outcome in the watcher's metrics, where the one-shot runs push theirs:
 * zk2etcd_last_success_timestamp_seconds when it succeeds, zk2etcd_reconcile_failures_total and
 * zk2etcd_reconcile_failing when it fails (a deletion guard's refusal, an unreadable node), so that a
 * watcher whose reconciles all fail does not look healthy. The walk's count is taken either way: a
 * refused run walked the whole tree.
 */
export function trackedReconcile(run: (reason: string) => Promise<void>, deps: TrackedReconcileDeps): (reason: string) => Promise<void> {
  return async (reason) => {
    try {
      await run(reason);
      deps.watcherMetrics.lastSuccess.setToCurrentTime();
      deps.watcherMetrics.reconcileFailing.set(0);
    } catch (err) {
      if (!deps.stopping() && !(err instanceof AbortedError)) {
        deps.watcherMetrics.reconcileFailures.inc();
        deps.watcherMetrics.reconcileFailing.set(1);
      }
      throw err;
    } finally {
      const walked = (await deps.metrics.zkNodes.get()).values[0]?.value;
      if (walked !== undefined) deps.walked(walked);
    }
  };
}
