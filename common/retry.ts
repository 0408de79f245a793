import { getMaxListeners, setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, isRetryable } from './errors.js';

const SIGNAL_LISTENERS = 10_000;

export interface RetryOptions {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly onRetry?: (err: unknown, attempt: number) => void;
  /** No further attempt after a failure this says is final here (ZooKeeper unreachable for a whole session timeout). */
  readonly giveUp?: (err: unknown) => boolean;
  /**
   * Reads only: when `signal` aborts, stop waiting for the attempt in flight (AbortedError), which may
   * otherwise wait for a server up to its timeout. A write's outcome must be awaited: never for writes.
   */
  readonly abandonOnAbort?: boolean;
}

/** Retries `fn` while it throws a retryable error, with jittered exponential backoff. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  // Every request in flight (up to --concurrent) may back off on the same signal at once: that is not the
  // listener leak Node warns about (on stderr, which carries JSON lines only) past 10.
  if (opts.signal && getMaxListeners(opts.signal) !== 0 && getMaxListeners(opts.signal) < SIGNAL_LISTENERS) setMaxListeners(SIGNAL_LISTENERS, opts.signal);
  for (let attempt = 1; ; attempt++) {
    try {
      return await (opts.abandonOnAbort && opts.signal ? abandonedOnAbort(fn(), opts.signal) : fn());
    } catch (err) {
      if (attempt >= opts.attempts || !isRetryable(err) || opts.signal?.aborted || opts.giveUp?.(err)) throw err;
      opts.onRetry?.(err, attempt);
      const delay = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
      try {
        await sleep(delay / 2 + Math.random() * (delay / 2), undefined, { signal: opts.signal });
      } catch {
        throw new AbortedError();
      }
    }
  }
}

/** `work`'s outcome, or AbortedError as soon as `signal` aborts (then `work` runs on, unobserved). */
function abandonedOnAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      work.catch(() => undefined);
      reject(new AbortedError());
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
