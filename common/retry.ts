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
}

/** Retries `fn` while it throws a retryable error, with jittered exponential backoff. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  // Every request in flight (up to --concurrent) may back off on the same signal at once: that is not the
  // listener leak Node warns about (on stderr, which carries JSON lines only) past 10.
  if (opts.signal && getMaxListeners(opts.signal) !== 0 && getMaxListeners(opts.signal) < SIGNAL_LISTENERS) setMaxListeners(SIGNAL_LISTENERS, opts.signal);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= opts.attempts || !isRetryable(err) || opts.signal?.aborted) throw err;
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
