import { errorClassOf } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { observe } from '../metrics.js';
import type { EtcdStore, TxnOp } from './store.js';

/**
 * Adds zk2etcd_etcd_op_* metrics to any EtcdStore: one per request (`list` for the paged prefix reads,
 * `get`, `txn`), and, as zk2etcd 1.x boards count writes by `op="put"` and `op="delete"`, the keys a
 * committed transaction put or deleted (or that a failed one would have, with its error class).
 */
export function instrumentEtcdStore(store: EtcdStore, metrics: Metrics): EtcdStore {
  const o = <T>(op: string, fn: () => Promise<T>) => observe(metrics.etcdOps, metrics.etcdOpSeconds, op, errorClassOf, fn);
  const countKeys = (ops: readonly TxnOp[], status: string): void => {
    const puts = ops.filter((op) => op.type === 'put').length;
    if (puts > 0) metrics.etcdOps.inc({ op: 'put', status }, puts);
    if (ops.length > puts) metrics.etcdOps.inc({ op: 'delete', status }, ops.length - puts);
  };
  return {
    snapshot: (ranges, onPage) => o('list', () => store.snapshot(ranges, onPage)),
    getMany: (keys) => o('get', () => store.getMany(keys)),
    async commit(ops, fence) {
      try {
        const outcome = await o('txn', () => store.commit(ops, fence));
        if (outcome.succeeded) countKeys(ops, 'success'); // a failed condition wrote nothing
        return outcome;
      } catch (err) {
        countKeys(ops, errorClassOf(err));
        throw err;
      }
    },
  };
}
