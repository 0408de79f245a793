import type { ApplyResult, PlanWriter } from '../../common/apply/writer.js';
import type { EtcdEntry, EtcdStore } from '../../common/etcd/store.js';
import type { Logger } from '../../common/logger.js';
import type { OwnershipRecord, OwnershipStore } from '../../common/ownership/store.js';
import type { Plan } from '../../common/plan/plan.js';
import { ChangeQueue, type ChangeQueueDeps } from '../../watcher/change-queue.js';
import { SharedExclusiveLock } from '../../watcher/shared-exclusive-lock.js';

/** Fakes for the change queue's unit test: only the store methods a flush uses. */

/** One writer.write call: the flush's keys, held until the test settles it. */
export interface Flight {
  readonly keys: readonly string[];
  readonly values: ReadonlyMap<string, string | null>;
  /** The signal the queue gave the writer: aborted once the queue stops (no new batch, no retry). */
  readonly signal: AbortSignal | undefined;
  succeed(skippedKeys?: readonly string[]): void;
  fail(err: unknown): void;
}

/** etcd, ownership and writer over one in-memory key space; every put or delete in a plan is a key of the flush. */
export class World {
  readonly etcd = new Map<string, EtcdEntry>();
  readonly records = new Map<string, OwnershipRecord>();
  readonly active = new Set<Flight>();
  readonly flights: Flight[] = [];
  readonly overlaps: string[] = [];
  maxActive = 0;
  revision = 1;
  /** When set, every flush settles itself after `autoDelayMs()` ms. */
  autoDelayMs: (() => number) | null = null;

  readonly etcdStore: Pick<EtcdStore, 'getMany'> = {
    getMany: async (keys) => new Map(keys.flatMap((k) => (this.etcd.has(k) ? [[k, this.etcd.get(k) as EtcdEntry] as const] : []))),
  };
  readonly ownershipStore: Pick<OwnershipStore, 'lookup'> = {
    lookup: async (keys) => new Map(keys.flatMap((k) => (this.records.has(k) ? [[k, this.records.get(k) as OwnershipRecord] as const] : []))),
  };
  readonly writer: PlanWriter = { write: (plan, signal) => this.write(plan, signal) };

  private write(plan: Plan, signal: AbortSignal | undefined): Promise<ApplyResult> {
    const puts = [...plan.missing, ...plan.changed];
    const values = new Map<string, string | null>([...puts.map((a) => [a.key, a.value.toString()] as const), ...plan.extra.map((a) => [a.key, null] as const)]);
    const keys = [...values.keys()];
    for (const f of this.active) for (const k of f.keys) if (values.has(k)) this.overlaps.push(k);
    return new Promise<ApplyResult>((resolve, reject) => {
      const flight: Flight = {
        keys,
        values,
        signal,
        succeed: (skippedKeys = []) => {
          this.active.delete(flight);
          for (const [k, v] of values) {
            if (skippedKeys.includes(k)) continue;
            if (v === null) this.etcd.delete(k);
            else this.etcd.set(k, { value: Buffer.from(v), modRevision: String(++this.revision) });
          }
          resolve({ put: puts.length, delete: plan.extra.length, skipped: skippedKeys.length, skippedKeys, refusedKeys: [] });
        },
        fail: (err) => {
          this.active.delete(flight);
          reject(err);
        },
      };
      this.active.add(flight);
      this.flights.push(flight);
      this.maxActive = Math.max(this.maxActive, this.active.size);
      if (this.autoDelayMs) setTimeout(() => flight.succeed(), this.autoDelayMs());
    });
  }

  /** The value etcd holds for each key. */
  contents(): Record<string, string> {
    return Object.fromEntries([...this.etcd].map(([k, e]) => [k, e.value.toString()]));
  }
}

export interface Harness {
  readonly world: World;
  readonly queue: ChangeQueue;
  readonly fatal: unknown[];
  readonly warnings: unknown[];
  readonly lags: number[];
  readonly lock: SharedExclusiveLock;
  /** Each onConflicts call's keys. */
  readonly conflicts: string[][];
}

export function harness(opts: Partial<Pick<ChangeQueueDeps, 'maxBatch' | 'maxInFlight'>> = {}): Harness {
  const world = new World();
  const fatal: unknown[] = [];
  const warnings: unknown[] = [];
  const lags: number[] = [];
  const conflicts: string[][] = [];
  const lock = new SharedExclusiveLock();
  const logger = { warn: (obj: unknown) => warnings.push(obj) } as unknown as Logger;
  const queue = new ChangeQueue({
    etcd: world.etcdStore as EtcdStore,
    ownership: world.ownershipStore as OwnershipStore,
    writer: world.writer,
    logger,
    writeLock: lock,
    onApplied: (lag) => lags.push(lag),
    onFatal: (err) => fatal.push(err),
    onConflicts: (keys) => conflicts.push([...keys]),
    // The queue runs one flush at a time by default; most tests exercise concurrency, so 4 unless given.
    ...('maxInFlight' in opts ? {} : { maxInFlight: 4 }),
    ...opts,
  });
  return { world, queue, fatal, warnings, lags, lock, conflicts };
}

export const buf = (s: string): Buffer => Buffer.from(s);
/** Lets every pending promise callback run (the fakes answer without I/O). */
export const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
};
/** Tracks whether a promise has settled yet. */
export function track(p: Promise<unknown>): { readonly done: boolean } {
  const state = { done: false };
  void p.then(() => (state.done = true));
  return state;
}
