import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, ZkError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { ZkSession, ZkSessionHooks } from '../common/zk/reader.js';

export type OpenZk = (hooks: ZkSessionHooks, signal: AbortSignal) => Promise<ZkSession>;

/** ZooKeeper unreachable: retry after 0.5 s, doubling up to this cap. */
const ZK_RETRY_FIRST_MS = 500;
const ZK_RETRY_CAP_MS = 10_000;

/**
 * Opens a ZooKeeper session, retrying with capped backoff while ZooKeeper cannot be reached (each failure
 * logged at warn with the delay). Other failures (auth refused, a bug) are thrown at once; `signal`
 * aborting ends the wait with AbortedError.
 */
export async function openZkRetrying(openZk: OpenZk, hooks: ZkSessionHooks, signal: AbortSignal, logger: Logger): Promise<ZkSession> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await openZk(hooks, signal);
    } catch (err) {
      if (!(err instanceof ZkError) || !err.retryable || signal.aborted) throw err;
      const delay = Math.min(ZK_RETRY_CAP_MS, ZK_RETRY_FIRST_MS * 2 ** Math.min(attempt, 5));
      logger.warn({ err: err.message, retryInMs: delay }, 'cannot open a ZooKeeper session; retrying');
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        throw new AbortedError('stopped while opening a ZooKeeper session');
      }
    }
  }
}
