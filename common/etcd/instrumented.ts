import { errorClassOf } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { observe } from '../metrics.js';
import type { EtcdStore } from './store.js';

/** Adds zk2etcd_etcd_op_* metrics to any EtcdStore. */
export function instrumentEtcdStore(store: EtcdStore, metrics: Metrics): EtcdStore {
  const o = <T>(op: string, fn: () => Promise<T>) => observe(metrics.etcdOps, metrics.etcdOpSeconds, op, errorClassOf, fn);
  return {
    snapshot: (ranges, onPage) => o('range', () => store.snapshot(ranges, onPage)),
    getMany: (keys) => o('get', () => store.getMany(keys)),
    commit: (ops, fence) => o('txn', () => store.commit(ops, fence)),
  };
}
