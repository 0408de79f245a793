import { errorClassOf } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { observe } from '../metrics.js';
import type { ZkReader } from './reader.js';

/** Adds zk2etcd_zk_op_* metrics to any ZkReader. */
export function instrumentZkReader(reader: ZkReader, metrics: Metrics): ZkReader {
  return {
    get: (path) => observe(metrics.zkOps, metrics.zkOpSeconds, 'get', errorClassOf, () => reader.get(path)),
    children: (path) => observe(metrics.zkOps, metrics.zkOpSeconds, 'children', errorClassOf, () => reader.children(path)),
  };
}
