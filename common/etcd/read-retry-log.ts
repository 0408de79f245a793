import type { Logger } from '../logger.js';

/** Logs each retried etcd read at warn: a stalled etcd shows in the log before the run gives up. */
export function etcdReadRetryLogger(logger: Logger): (err: unknown, op: 'range' | 'get') => void {
  return (err, op) => logger.warn({ op, err: err instanceof Error ? err.message : String(err) }, 'etcd read failed; retrying');
}
