import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestZk } from '../test/helpers/services.js';
import { prng } from '../test/helpers/prng.js';
import { logStamped as log } from './env.js';

/** The watcher benchmark's latency runs: ZooKeeper changes issued at a rate or in a burst, timed to their etcd events. */

export interface Change {
  kind: 'set' | 'create' | 'delete';
  key: string;
  value: string; // '' for deletes
  issuedAt: number;
  arrivedAt?: number;
  error?: string;
}

export interface LatencyResult {
  issued: number;
  arrived: number;
  missing: number;
  failedToIssue: number;
  issueSeconds: number;
  achievedRate: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  byKind: Record<string, { n: number; p50: number; p99: number; max: number }>;
  missingSample: string[];
  /** Per second of issuing: p50/p99/max (ms) of the changes issued in that second. */
  timeline?: { second: number; n: number; p50: number; p99: number; max: number }[];
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
export const r2 = (x: number): number => Math.round(x * 100) / 100;

export class Tracker {
  private readonly byValue = new Map<string, Change>();
  private readonly deletes = new Map<string, Change>();
  private pending = 0;
  private waiters: (() => void)[] = [];

  onPut(key: string, value: string): void {
    const c = this.byValue.get(value);
    if (c && c.key === key && c.arrivedAt === undefined) {
      c.arrivedAt = performance.now();
      this.done();
    }
  }
  onDelete(key: string): void {
    const c = this.deletes.get(key);
    if (c && c.arrivedAt === undefined) {
      c.arrivedAt = performance.now();
      this.done();
    }
  }
  track(c: Change): void {
    if (c.kind === 'delete') this.deletes.set(c.key, c);
    else this.byValue.set(c.value, c);
    this.pending++;
  }
  untrack(c: Change): void {
    if (c.arrivedAt === undefined) this.done();
  }
  private done(): void {
    this.pending--;
    if (this.pending <= 0) for (const w of this.waiters.splice(0)) w();
  }
  async drained(timeoutMs: number): Promise<void> {
    if (this.pending <= 0) return;
    await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(timeoutMs)]);
  }
}

function summarizeLatency(changes: Change[], issueSeconds: number): LatencyResult {
  const issuedOk = changes.filter((c) => c.error === undefined);
  const arrived = issuedOk.filter((c) => c.arrivedAt !== undefined);
  const lat = (cs: Change[]): number[] => cs.map((c) => (c.arrivedAt as number) - c.issuedAt).sort((a, b) => a - b);
  const all = lat(arrived);
  const byKind: LatencyResult['byKind'] = {};
  for (const kind of ['set', 'create', 'delete'] as const) {
    const l = lat(arrived.filter((c) => c.kind === kind));
    if (l.length > 0) byKind[kind] = { n: l.length, p50: r2(pct(l, 50)), p99: r2(pct(l, 99)), max: r2(l[l.length - 1] as number) };
  }
  const missing = issuedOk.filter((c) => c.arrivedAt === undefined);
  return {
    issued: changes.length,
    arrived: arrived.length,
    missing: missing.length,
    failedToIssue: changes.length - issuedOk.length,
    issueSeconds: r2(issueSeconds),
    achievedRate: Math.round(changes.length / Math.max(issueSeconds, 1e-9)),
    p50: r2(pct(all, 50)),
    p95: r2(pct(all, 95)),
    p99: r2(pct(all, 99)),
    max: r2(all[all.length - 1] ?? NaN),
    mean: r2(all.reduce((s, x) => s + x, 0) / Math.max(1, all.length)),
    byKind,
    missingSample: [
      ...missing.slice(0, 5).map((c) => `${c.kind} ${c.key.slice(0, 100)}`),
      ...changes.filter((c) => c.error).slice(0, 5).map((c) => `issue failed: ${c.kind} ${c.key.slice(0, 80)}: ${c.error}`),
    ],
  };
}

let seq = 0;
const nextValue = (): string => `benchw-${++seq}-${Date.now()}`;

function issue(zk: TestZk, tracker: Tracker, c: Change, inFlight: { n: number }): Promise<void> {
  tracker.track(c);
  inFlight.n++;
  c.issuedAt = performance.now();
  const op = c.kind === 'set' ? zk.set(c.key, Buffer.from(c.value)) : c.kind === 'create' ? zk.create(c.key, Buffer.from(c.value)) : zk.remove(c.key);
  return op.then(
    () => {
      inFlight.n--;
    },
    (err: unknown) => {
      inFlight.n--;
      c.error = String(err);
      tracker.untrack(c);
    },
  );
}

/**
 * This process holds the generated tree (~550 MB at 300k) while it measures. A full collection of that
 * heap, which V8 otherwise runs when allocation slows (its memory reducer), paused it for 30-80 ms
 * inside the measured window, and its lag counts the pause. Collect before measuring (needs --expose-gc,
 * which scripts/bench.sh passes).
 */
export function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  else log('no --expose-gc: a full collection of this process may land inside the measurement');
}

/** `rate` sets/s on distinct random leaves for `seconds`, paced by a 5 ms timer, at most `maxInFlight` outstanding. */
export async function steady(zk: TestZk, tracker: Tracker, leaves: string[], rate: number, seconds: number, maxInFlight = 200): Promise<LatencyResult> {
  const total = Math.round(rate * seconds);
  const changes: Change[] = [];
  const inFlight = { n: 0 };
  const ops: Promise<void>[] = [];
  let skippedForInFlight = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (changes.length < due) {
        if (inFlight.n >= maxInFlight) {
          skippedForInFlight++;
          break;
        }
        const key = leaves.pop();
        if (!key) throw new Error('ran out of leaves');
        const c: Change = { kind: 'set', key, value: nextValue(), issuedAt: 0 };
        changes.push(c);
        ops.push(issue(zk, tracker, c, inFlight));
      }
      if (changes.length >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  const issueSeconds = (performance.now() - t0) / 1000;
  await Promise.all(ops);
  await tracker.drained(60_000);
  if (skippedForInFlight > 0) log(`steady: the in-flight bound (${maxInFlight}) held back issuing ${skippedForInFlight} times`);
  const timeline: NonNullable<LatencyResult['timeline']> = [];
  for (let sec = 0; sec < Math.ceil(issueSeconds); sec++) {
    const l = changes
      .filter((c) => c.arrivedAt !== undefined && Math.floor((c.issuedAt - t0) / 1000) === sec)
      .map((c) => (c.arrivedAt as number) - c.issuedAt)
      .sort((a, b) => a - b);
    if (l.length > 0) timeline.push({ second: sec, n: l.length, p50: r2(pct(l, 50)), p99: r2(pct(l, 99)), max: r2(l[l.length - 1] as number) });
  }
  return { ...summarizeLatency(changes, issueSeconds), timeline };
}

/** `n` changes as fast as possible: 80% sets, 10% provider creates, 10% provider deletes, all on distinct keys. */
export async function burst(zk: TestZk, tracker: Tracker, leaves: string[], providerLeaves: string[], providerDirs: string[], n: number, maxInFlight = 1000): Promise<LatencyResult> {
  const r = prng(7);
  const changes: Change[] = [];
  for (let i = 0; i < n; i++) {
    const x = i % 10;
    if (x === 3) {
      const dir = providerDirs[Math.floor(r() * providerDirs.length)] as string;
      changes.push({ kind: 'create', key: `${dir}/${encodeURIComponent(`dubbo://10.255.0.${i % 250}:20880/bench?i=${i}&r=${randomBytes(4).toString('hex')}`)}`, value: nextValue(), issuedAt: 0 });
    } else if (x === 7 && providerLeaves.length > 0) {
      changes.push({ kind: 'delete', key: providerLeaves.pop() as string, value: '', issuedAt: 0 });
    } else {
      const key = leaves.pop();
      if (!key) throw new Error('ran out of leaves');
      changes.push({ kind: 'set', key, value: nextValue(), issuedAt: 0 });
    }
  }
  const inFlight = { n: 0 };
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: maxInFlight }, async () => {
      while (next < changes.length) await issue(zk, tracker, changes[next++] as Change, inFlight);
    }),
  );
  const issueSeconds = (performance.now() - t0) / 1000;
  await tracker.drained(120_000);
  return summarizeLatency(changes, issueSeconds);
}
