import { setTimeout as sleep } from 'node:timers/promises';
import type { PlanWriter } from '../common/apply/writer.js';
import type { EtcdStore } from '../common/etcd/store.js';
import { errorClassOf, isRetryable } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { OwnershipStore } from '../common/ownership/store.js';
import { plan } from '../common/plan/plan.js';

export interface ChangeQueueDeps {
  readonly etcd: EtcdStore;
  readonly ownership: OwnershipStore;
  readonly writer: PlanWriter;
  readonly logger: Logger;
  /** Keys per flush (each flush re-plans just these keys). */
  readonly maxBatch?: number;
  /** Observed per applied key: seconds from the ZooKeeper event to the etcd commit. */
  readonly onApplied?: (lagSeconds: number) => void;
  /** A non-retryable failure (e.g. leadership lost): the owner stops the process. */
  readonly onFatal: (err: unknown) => void;
  /** Flushes take this lock so they never interleave with a full reconcile's writes. */
  readonly withWriteLock: <T>(fn: () => Promise<T>) => Promise<T>;
}

interface Pending {
  readonly value: Buffer | null;
  readonly since: number;
}

/**
 * Coalesces changes per etcd key (the latest state wins, so per-path order holds) and applies them in
 * flushes, one at a time: each flush reads those keys from etcd and ownership, plans them with the
 * same pure planner as the full reconcile, and writes through the same conditional writer.
 * A retryable failure (etcd or Redis down) keeps the keys and retries with backoff.
 */
export class ChangeQueue {
  private readonly pending = new Map<string, Pending>();
  private flushing: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private failures = 0;

  constructor(private readonly deps: ChangeQueueDeps) {}

  /** `since`: when the change was seen (NaN: not a change, e.g. the initial load). */
  push(key: string, value: Buffer | null, since = performance.now()): void {
    if (this.stopped) return;
    const prev = this.pending.get(key);
    this.pending.set(key, { value, since: prev?.since ?? since });
    this.flushing ??= this.run();
  }

  get size(): number {
    return this.pending.size;
  }

  /** Resolves when nothing is pending or in flight. */
  idle(): Promise<void> {
    if (this.pending.size === 0 && this.flushing === null) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking changes; the flush in flight finishes. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flushing;
  }

  private async run(): Promise<void> {
    try {
      while (this.pending.size > 0 && !this.stopped) {
        const batch = new Map<string, Pending>();
        for (const [key, p] of this.pending) {
          batch.set(key, p);
          if (batch.size >= (this.deps.maxBatch ?? 2000)) break;
        }
        for (const key of batch.keys()) this.pending.delete(key);
        try {
          await this.deps.withWriteLock(() => this.apply(batch));
          this.failures = 0;
        } catch (err) {
          // Keep what is not superseded by a newer change, in front of the queue.
          const rest = [...this.pending];
          this.pending.clear();
          for (const [key, p] of batch) this.pending.set(key, p);
          for (const [key, p] of rest) this.pending.set(key, p);
          if (!isRetryable(err)) {
            this.deps.onFatal(err);
            return;
          }
          this.failures++;
          const delay = Math.min(5000, 100 * 2 ** Math.min(this.failures, 6));
          this.deps.logger.warn({ err: (err as Error).message, errorClass: errorClassOf(err), keys: this.pending.size, retryInMs: delay }, 'applying changes failed; keeping them and retrying');
          await sleep(delay);
        }
      }
    } finally {
      this.flushing = null;
      if (this.pending.size > 0 && !this.stopped) this.flushing = this.run();
      else for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async apply(batch: ReadonlyMap<string, Pending>): Promise<void> {
    const keys = [...batch.keys()];
    const desired = new Map<string, Buffer>();
    for (const [key, p] of batch) if (p.value !== null) desired.set(key, p.value);
    const current = await this.deps.etcd.getMany(keys);
    const ownership = await this.deps.ownership.lookup(keys.filter((k) => !desired.has(k) && current.has(k)));
    const result = await this.deps.writer.write(plan({ desired, current, ownership, keys }));
    const now = performance.now();
    if (this.deps.onApplied) for (const p of batch.values()) if (!Number.isNaN(p.since)) this.deps.onApplied((now - p.since) / 1000);
    if (result.skipped > 0) {
      // Someone else moved between our read and write: re-plan those keys from their latest state.
      for (const key of result.skippedKeys) if (!this.pending.has(key)) this.pending.set(key, batch.get(key) as Pending);
    }
  }
}
