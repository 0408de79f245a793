import type { ApplyResult, PlanWriter } from '../common/apply/writer.js';
import type { EtcdStore } from '../common/etcd/store.js';
import { errorClassOf, isRetryable } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { OwnershipStore } from '../common/ownership/store.js';
import { plan } from '../common/plan/plan.js';
import { waitAtMost } from '../common/wait-at-most.js';
import type { SharedExclusiveLock } from './shared-exclusive-lock.js';

export interface ChangeQueueDeps {
  readonly etcd: EtcdStore;
  readonly ownership: OwnershipStore;
  readonly writer: PlanWriter;
  readonly logger: Logger;
  /** Keys per flush (each flush re-plans just these keys). */
  readonly maxBatch?: number;
  /**
   * Flushes running at once (default 1). On the 2-core benchmark machine 4 in flight made the steady
   * p99 worse (124 and 162 ms against 18 and 64 ms): smaller flushes cost more per key under contention.
   */
  readonly maxInFlight?: number;
  /** Observed per applied key: seconds from the ZooKeeper event to the etcd commit. */
  readonly onApplied?: (lagSeconds: number) => void;
  /** A non-retryable failure (e.g. leadership lost): the owner stops the process. */
  readonly onFatal: (err: unknown) => void;
  /** Keys an event would delete that another writer changed since our write: left alone (SPEC §3). */
  readonly onConflicts?: (keys: readonly string[]) => void;
  /** Flushes hold it shared; a full reconcile's writes hold it exclusive, so the two never interleave. */
  readonly writeLock: Pick<SharedExclusiveLock, 'shared'>;
}

interface Pending {
  readonly value: Buffer | null;
  readonly since: number;
  /** The zxid of the state in `value` (see ChangeOrigin), when the reader knew it. */
  readonly zxid?: number | undefined;
  /** Back after a write of it was skipped: the writer counted that conflict already. */
  readonly conflictCounted?: boolean;
}

type Batch = ReadonlyMap<string, Pending>;

/** How long stop() waits for the flushes in flight (etcd or Redis may not answer) before abandoning them. */
const STOP_GRACE_MS = 5000;

/**
 * Coalesces changes per etcd key (the latest state wins) and applies them in flushes, up to
 * `maxInFlight` at once: each flush reads its keys from etcd and ownership, plans them with the same
 * pure planner as the full reconcile, and writes through the same conditional writer.
 * A key is in at most one flush at a time, so per-path order holds: a change for a key in flight waits
 * in `pending` until that flush ends. A retryable failure (etcd or Redis down) puts the keys back and
 * pauses new flushes with backoff.
 */
export class ChangeQueue {
  private readonly pending = new Map<string, Pending>();
  /** Keys of the flushes in flight. */
  private readonly inFlight = new Set<string>();
  private readonly flights = new Set<Promise<void>>();
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private idleWaiters: (() => void)[] = [];
  /** While discardPending waits for the flights: no new flush starts. */
  private holding = false;
  private fatal = false;
  private pumpScheduled = false;
  private failures = 0;
  /** Backoff pauses so far: a flush started before the latest one failed in that same outage. */
  private pauses = 0;
  private pauseTimer: NodeJS.Timeout | null = null;
  /** Aborted by stop() or a fatal error: no more changes or flushes; the writer starts no batch and retries nothing. */
  private readonly halted = new AbortController();

  private get stopped(): boolean {
    return this.halted.signal.aborted;
  }

  constructor(private readonly deps: ChangeQueueDeps) {
    this.maxBatch = Math.max(1, deps.maxBatch ?? 2000);
    this.maxInFlight = Math.max(1, deps.maxInFlight ?? 1);
  }

  /** `since`: when the change was seen (NaN: not a change, e.g. the initial load); `zxid`: of that state, for the event log. */
  push(key: string, value: Buffer | null, since = performance.now(), zxid?: number): void {
    if (this.stopped) return;
    const prev = this.pending.get(key);
    // The first event's time is kept; a change no event caused (NaN) takes the time of an event that follows it.
    this.pending.set(key, { value, since: prev !== undefined && !Number.isNaN(prev.since) ? prev.since : since, zxid });
    // Deferred to a microtask so the changes pushed together (one ZooKeeper read) share a flush.
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      queueMicrotask(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    }
  }

  /** Changes waiting for a flush (not those in flight). */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Resolves when nothing is pending or in flight, or once the queue has stopped (stop() or a fatal
   * error) and its flushes in flight have ended: nothing more is applied then.
   */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Waits for the flushes in flight, then drops every change still waiting; returns how many. For the
   * moment ZooKeeper events may have been missed (a lost session, a reconnect): the reconcile that follows
   * reads every key after this, and an older change applied after its reads could put back a node deleted
   * meanwhile, with no event left to remove it.
   */
  async discardPending(): Promise<number> {
    this.holding = true;
    try {
      while (this.flights.size > 0) await Promise.all(this.flights);
      const dropped = this.pending.size;
      this.pending.clear();
      return dropped;
    } finally {
      this.holding = false;
      this.pump(); // wakes idle() waiters, as after any flush
    }
  }

  /**
   * Stops taking changes and starting flushes (their writers start no new batch and retry nothing); resolves
   * when the flushes in flight have ended, or after `graceMs` while etcd or Redis does not answer: those are
   * abandoned (SPEC §5), their keys left `pending`, which the next run settles (SPEC §3).
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.halt();
    const ended = (async () => {
      while (this.flights.size > 0) await Promise.all(this.flights);
    })();
    if (!(await waitAtMost(ended, graceMs))) this.deps.logger.warn({ keys: this.inFlight.size, graceMs }, 'a flush still waits on etcd or Redis: abandoned; what it marked pending is settled by the next reconcile');
  }

  private halt(): void {
    this.halted.abort();
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = null;
  }

  private isIdle(): boolean {
    return this.flights.size === 0 && (this.pending.size === 0 || this.stopped);
  }

  /** Starts flushes while a slot is free, no backoff pause runs, and pending keys are not in flight. */
  private pump(): void {
    while (!this.stopped && !this.holding && this.pauseTimer === null && this.flights.size < this.maxInFlight) {
      const batch = new Map<string, Pending>();
      for (const [key, p] of this.pending) {
        if (this.inFlight.has(key)) continue;
        batch.set(key, p);
        if (batch.size >= this.maxBatch) break;
      }
      if (batch.size === 0) break;
      for (const key of batch.keys()) {
        this.pending.delete(key);
        this.inFlight.add(key);
      }
      const flight: Promise<void> = this.flush(batch, this.pauses).finally(() => {
        this.flights.delete(flight);
        this.pump();
      });
      this.flights.add(flight);
    }
    if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async flush(batch: Batch, pausesAtStart: number): Promise<void> {
    try {
      const { result, written } = await this.deps.writeLock.shared(() => this.apply(batch));
      this.applied(batch, result, written);
    } catch (err) {
      this.failed(batch, err, pausesAtStart);
    }
  }

  /** Plans and writes one flush; `written`: the keys it put or deleted (their events' lag is observed). */
  private async apply(batch: Batch): Promise<{ result: ApplyResult; written: ReadonlySet<string> }> {
    const keys = [...batch.keys()];
    const desired = new Map<string, Buffer>();
    for (const [key, p] of batch) if (p.value !== null) desired.set(key, p.value);
    const current = await this.deps.etcd.getMany(keys);
    const ownership = await this.deps.ownership.lookup(keys.filter((k) => !desired.has(k) && current.has(k)));
    const planned = plan({ desired, current, ownership, keys });
    const result = await this.deps.writer.write(planned, this.halted.signal, (key) => batch.get(key));
    // Counted once the flush succeeded (a retried flush plans its keys again).
    const conflicts = planned.conflict.filter((key) => !batch.get(key)?.conflictCounted);
    if (conflicts.length > 0) this.deps.onConflicts?.(conflicts);
    const skipped = new Set([...result.skippedKeys, ...result.refusedKeys]);
    const written = new Set([...planned.missing, ...planned.changed, ...planned.extra].map((a) => a.key).filter((k) => !skipped.has(k)));
    return { result, written };
  }

  private applied(batch: Batch, result: ApplyResult, written: ReadonlySet<string>): void {
    for (const key of batch.keys()) this.inFlight.delete(key);
    this.failures = 0;
    const now = performance.now();
    // An event that changed nothing in etcd (already in sync, or left out by --skip-ephemeral) has no commit to time.
    if (this.deps.onApplied) for (const [key, p] of batch) if (!Number.isNaN(p.since) && written.has(key)) this.deps.onApplied((now - p.since) / 1000);
    // Someone else moved between our read and write: re-plan those keys from their latest state.
    for (const key of result.skippedKeys) if (!this.pending.has(key)) this.pending.set(key, { ...(batch.get(key) as Pending), conflictCounted: true });
  }

  private failed(batch: Batch, err: unknown, pausesAtStart: number): void {
    for (const key of batch.keys()) this.inFlight.delete(key);
    // Back in front of the queue; a newer pending change keeps its value but the older `since`.
    const rest = new Map(this.pending);
    this.pending.clear();
    for (const [key, p] of batch) {
      const newer = rest.get(key);
      this.pending.set(key, newer ? { value: newer.value, since: p.since, zxid: newer.zxid } : p);
    }
    for (const [key, p] of rest) if (!this.pending.has(key)) this.pending.set(key, p);
    if (this.fatal) return;
    if (!isRetryable(err)) {
      this.fatal = true;
      this.halt();
      this.deps.onFatal(err);
      return;
    }
    if (this.stopped) return;
    // Flushes started before the latest pause fail in the same outage: one backoff step per outage round.
    if (pausesAtStart !== this.pauses) return;
    this.pauses++;
    this.failures++;
    const delay = Math.min(5000, 100 * 2 ** Math.min(this.failures, 6));
    this.deps.logger.warn({ err: (err as Error).message, errorClass: errorClassOf(err), keys: this.pending.size, retryInMs: delay }, 'applying changes failed; keeping them and retrying');
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = null;
      this.pump();
    }, delay);
  }
}
