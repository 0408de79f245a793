import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, isRetryable } from './errors.js';

export interface RetryOptions {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly onRetry?: (err: unknown, attempt: number) => void;
}

/** Retries `fn` while it throws a retryable error, with jittered exponential backoff. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
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
