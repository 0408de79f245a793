import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { AbortedError, DeletionGuardError } from '../../common/errors.js';
import { createMetrics, createWatcherMetrics } from '../../common/metrics.js';
import { trackedReconcile } from '../../watcher/tracked-reconcile.js';

const value = async (metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> => (await metric.get()).values[0]?.value ?? Number.NaN;

describe('trackedReconcile: the outcome of the watcher\'s full reconciles in its metrics', () => {
  // `failing`: zk2etcd_reconcile_failing after the run, which follows an earlier run that failed.
  const cases: { name: string; failWith: Error | null; stopping: boolean; failures: number; succeeded: boolean; failing: number }[] = [
    { name: 'a reconcile that succeeds sets the last success time, and ends a failing state', failWith: null, stopping: false, failures: 0, succeeded: true, failing: 0 },
    { name: 'a failed reconcile is counted, and the state is failing', failWith: new Error('zk_no_auth'), stopping: false, failures: 1, succeeded: false, failing: 1 },
    { name: 'a deletion guard refusal is a failure', failWith: Object.create(DeletionGuardError.prototype) as Error, stopping: false, failures: 1, succeeded: false, failing: 1 },
    { name: 'one the watcher stops is not, and leaves the state as it was', failWith: new Error('session closed'), stopping: true, failures: 0, succeeded: false, failing: 1 },
    { name: 'nor one aborted', failWith: new AbortedError(), stopping: false, failures: 0, succeeded: false, failing: 1 },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const registry = new Registry();
      const metrics = createMetrics(registry);
      const wm = createWatcherMetrics(registry);
      let walked = -1;
      wm.reconcileFailing.set(1); // an earlier run failed
      const run = trackedReconcile(
        async () => {
          metrics.zkNodes.set(42); // the walk finished; what follows may still fail
          if (c.failWith) throw c.failWith;
        },
        { metrics, watcherMetrics: wm, stopping: () => c.stopping, walked: (n) => (walked = n) },
      );
      if (c.failWith) await assert.rejects(run('scheduled'), (err) => err === c.failWith);
      else await run('scheduled');
      assert.equal(await value(wm.reconcileFailures), c.failures);
      const last = await value(wm.lastSuccess);
      assert.equal(last > 0, c.succeeded, `last success ${last}`);
      assert.equal(walked, 42, "the walk's node count, either way");
      assert.equal(await value(wm.reconcileFailing), c.failing);
    });
  }
});
