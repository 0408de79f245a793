import type { Plan } from '../plan/plan.js';

export interface ApplyResult {
  readonly put: number;
  readonly delete: number;
  /** Ops not applied because another writer moved first (their condition failed). */
  readonly skipped: number;
  readonly skippedKeys: readonly string[];
}

/** Applies a plan. The real one writes etcd under ownership rules; dry-run wraps it and writes nothing. */
export interface PlanWriter {
  write(plan: Plan, signal?: AbortSignal): Promise<ApplyResult>;
}

export const NOTHING_APPLIED: ApplyResult = Object.freeze({ put: 0, delete: 0, skipped: 0, skippedKeys: [] });
