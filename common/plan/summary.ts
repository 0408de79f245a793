import type { Plan } from './plan.js';

/** Keys listed per kind in a summary (and in the `--output json` report); counts are always exact. */
export const KEY_LIST_CAP = 1000;

const KINDS = ['missing', 'changed', 'extra', 'foreign', 'conflict'] as const;
export type DifferenceKind = (typeof KINDS)[number];

/** What a full reconcile found: exact counts, and the first KEY_LIST_CAP keys of each kind in sorted order. */
export interface PlanSummary {
  readonly counts: Readonly<Record<DifferenceKind | 'inSync', number>>;
  readonly keys: Readonly<Record<DifferenceKind, readonly string[]>>;
}

/** Differences a fix acts on (missing + changed + extra). */
export function summaryDifferences(s: PlanSummary): number {
  return s.counts.missing + s.counts.changed + s.counts.extra;
}

/** Adds up the plans of many chunks in bounded memory. */
export class SummaryCollector {
  private readonly counts = { missing: 0, changed: 0, extra: 0, foreign: 0, conflict: 0, inSync: 0 };
  private readonly keys: Record<DifferenceKind, string[]> = { missing: [], changed: [], extra: [], foreign: [], conflict: [] };

  add(plan: Plan): void {
    this.counts.inSync += plan.inSync;
    const lists: Record<DifferenceKind, readonly string[]> = {
      missing: plan.missing.map((a) => a.key),
      changed: plan.changed.map((a) => a.key),
      extra: plan.extra.map((a) => a.key),
      foreign: plan.foreign,
      conflict: plan.conflict,
    };
    for (const kind of KINDS) {
      this.counts[kind] += lists[kind].length;
      const kept = this.keys[kind];
      for (const key of lists[kind].slice(0, KEY_LIST_CAP)) kept.push(key);
      if (kept.length > 2 * KEY_LIST_CAP) this.keys[kind] = smallest(kept);
    }
  }

  summary(): PlanSummary {
    const keys = {} as Record<DifferenceKind, string[]>;
    for (const kind of KINDS) keys[kind] = smallest(this.keys[kind]);
    return { counts: { ...this.counts }, keys };
  }
}

function smallest(keys: string[]): string[] {
  return keys.sort().slice(0, KEY_LIST_CAP);
}
