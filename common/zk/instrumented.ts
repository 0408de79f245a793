import { errorClassOf, ZkError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { observe } from '../metrics.js';
import { ZkReplyTooLargeError } from './connection.js';
import type { FastZkConnection } from './fast-client.js';
import type { ZkSessionControl, ZkWatchReader } from './reader.js';

type Observe = <R>(op: string, fn: () => Promise<R>) => Promise<R>;
/** A multiRead reply over the packet limit is expected: the caller splits the batch (status `split`, not an error class). */
const statusOf = (err: unknown): string => (err instanceof ZkReplyTooLargeError ? 'split' : errorClassOf(err));
const observer = (metrics: Metrics): Observe => (op, fn) => observe(metrics.zkOps, metrics.zkOpSeconds, op, statusOf, fn);

/** Adds zk2etcd_zk_op_* metrics to an addon session (watching reads included). */
export function instrumentZkSession<T extends ZkWatchReader & ZkSessionControl>(session: T, metrics: Metrics): ZkWatchReader & ZkSessionControl {
  const o = observer(metrics);
  return {
    get armedWatches() {
      return session.armedWatches;
    },
    get: (path) => o('get', () => session.get(path)),
    children: (path) => o('children', () => session.children(path)),
    getW: (path, cb) => o('get', () => session.getW(path, cb)),
    childrenW: (path, cb) => o('children', () => session.childrenW(path, cb)),
    existsW: (path, cb) => o('exists', () => session.existsW(path, cb)),
    close: () => session.close(),
    grantedTimeoutMs: () => session.grantedTimeoutMs(),
  };
}

/** The same metrics for a protocol-client session; a multiRead counts as one `multi_read` op, and each read failing inside it as its own. */
export function instrumentFastSession(session: FastZkConnection, metrics: Metrics): FastZkConnection {
  const o = observer(metrics);
  return {
    batchReads: true,
    maxBatchReplyBytes: session.maxBatchReplyBytes,
    get: (path) => o('get', () => session.get(path)),
    children: (path) => o('children', () => session.children(path)),
    readMany: async (ops) => {
      const results = await o('multi_read', () => session.readMany(ops));
      // A read inside the batch fails on its own (no_auth on one node) while the request succeeds: each
      // such failure counts as its op, so 1.x's status!="success" panels see it as they did per request.
      results.forEach((res, i) => {
        if (res instanceof ZkError) metrics.zkOps.inc({ op: ops[i]?.kind === 'children' ? 'children' : 'get', status: errorClassOf(res) });
      });
      return results;
    },
    watchTree: (path) => o('add_watch', () => session.watchTree(path)),
    close: () => session.close(),
    grantedTimeoutMs: () => session.grantedTimeoutMs(),
  };
}
