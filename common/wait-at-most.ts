import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits for `work` at most `ms`: true when it settled (either way) in time, false when the wait gave up and
 * left it running. For shutdown, where a call to a server that does not answer must not hold the process.
 */
export async function waitAtMost(work: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      sleep(ms, false, { signal: timer.signal }),
    ]);
  } finally {
    timer.abort();
  }
}

/** Resolves when `signal` aborts (at once if it has). */
export function once(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Waits for `work` (rethrowing its failure) unless `signal` aborts first: then resolves, leaving it running. */
export async function settledOrAborted(work: Promise<unknown>, signal: AbortSignal): Promise<void> {
  work.catch(() => undefined); // observed here if the wait ends first; the caller's handler sees it otherwise
  await Promise.race([work, once(signal)]);
}
