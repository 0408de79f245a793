import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

/**
 * A full reconcile that must happen (after becoming leader, a rebuild or a reconnect: on the fast path it
 * is the only source of the changes made meanwhile): retried with capped backoff while it fails retryably
 * (etcd or Redis down), until it succeeds or `until` aborts. Other failures are logged; the schedule, if any, retries.
 */
export async function reconcileWithRetry(
  run: (reason: string) => Promise<void>,
  reason: string,
  until: AbortSignal,
  logger: Logger,
  scheduled: boolean,
  /** The failure of an attempt already made: handled first, without running it again at once. */
  failed?: { readonly err: unknown },
): Promise<void> {
  for (let attempt = 0; !until.aborted; attempt++) {
    try {
      if (attempt === 0 && failed) throw failed.err;
      await run(reason);
      return;
    } catch (err) {
      if (until.aborted) return;
      if (!isRetryable(err)) {
        const next = scheduled
          ? 'the schedule retries it'
          : 'with --fullsync-interval=0 only a new session or leader retries it: run zk2etcd fix, or restart the watcher, once the cause is fixed';
        logger.error({ err: (err as Error).message, reason }, `full reconcile failed; events are still applied, ${next}`);
        return;
      }
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
      logger.error({ err: (err as Error).message, reason, retryInMs: delay }, 'full reconcile failed; retrying it');
      await sleep(delay, undefined, { signal: until }).catch(() => undefined);
    }
  }
}
