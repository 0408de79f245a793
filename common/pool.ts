/** Runs `fn` over items with at most `limit` in flight; stops launching after the first failure and rethrows it. */
export async function forEachPool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const i = next++;
      try {
        await fn(items[i] as T, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
}

/** Bounds concurrent async work: `run` waits for a slot. */
export function createLimiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/**
 * Runs work that grows while it runs (a tree walk): `next` hands out the next item, or undefined when
 * none is ready; at most `limit` run at once. Resolves when nothing is left or running; rejects with the
 * first failure (or AbortedError on abort) and starts nothing after it.
 */
export function drain<W>(next: () => W | undefined, run: (item: W) => Promise<void>, limit: number, signal?: AbortSignal, onAbort?: () => Error): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let inFlight = 0;
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    const pump = (): void => {
      if (failed) return;
      if (signal?.aborted) {
        fail(onAbort?.() ?? new Error('aborted'));
        return;
      }
      for (let item = inFlight < limit ? next() : undefined; item !== undefined; item = inFlight < limit ? next() : undefined) {
        inFlight++;
        run(item).then(() => {
          inFlight--;
          pump();
        }, fail);
      }
      if (inFlight === 0) resolve();
    };
    pump();
  });
}
