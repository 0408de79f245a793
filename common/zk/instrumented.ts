import { errorClassOf } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { observe } from '../metrics.js';
import type { ZkWatchReader } from './reader.js';

/** Adds zk2etcd_zk_op_* metrics to a ZooKeeper session (watching reads included). */
export function instrumentZkSession<T extends ZkWatchReader & { close(): void }>(session: T, metrics: Metrics): ZkWatchReader & { close(): void } {
  const o = <R>(op: string, fn: () => Promise<R>) => observe(metrics.zkOps, metrics.zkOpSeconds, op, errorClassOf, fn);
  return {
    get: (path) => o('get', () => session.get(path)),
    children: (path) => o('children', () => session.children(path)),
    getW: (path, cb) => o('get', () => session.getW(path, cb)),
    childrenW: (path, cb) => o('children', () => session.childrenW(path, cb)),
    existsW: (path, cb) => o('exists', () => session.existsW(path, cb)),
    close: () => session.close(),
  };
}
