import type { Plan } from '../plan/plan.js';

export interface ApplyResult {
  readonly put: number;
  readonly delete: number;
  /** Ops not applied: `skippedKeys` and `refusedKeys` together. */
  readonly skipped: number;
  /** Another writer moved first (their condition failed): worth planning again from the latest state. */
  readonly skippedKeys: readonly string[];
  /** Puts etcd refused as too large for a request (a znode over its --max-request-bytes): they fail the same way until that changes. */
  readonly refusedKeys: readonly string[];
}

/** Where in ZooKeeper a change came from, for the event log (SPEC §8). The watcher knows it; a full reconcile does not. */
export interface ChangeOrigin {
  /** performance.now() when the change's first ZooKeeper event arrived (NaN: no event, e.g. the initial load). */
  readonly since: number;
  /** A put: the znode's mzxid, the transaction that wrote those bytes. A delete: the zxid as of which ZooKeeper answered that the node was gone. */
  readonly zxid?: number | undefined;
}

export type OriginOf = (key: string) => ChangeOrigin | undefined;

/**
 * Applies a plan. The real one writes etcd under ownership rules; dry-run wraps it and writes nothing.
 * `origin` is given by the watcher's change queue (its `since` is NaN for a change no event caused), and
 * absent for a full reconcile's repairs.
 */
export interface PlanWriter {
  write(plan: Plan, signal?: AbortSignal, origin?: OriginOf): Promise<ApplyResult>;
}

export const NOTHING_APPLIED: ApplyResult = Object.freeze({ put: 0, delete: 0, skipped: 0, skippedKeys: [], refusedKeys: [] });
