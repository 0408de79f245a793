import type { Plan } from './plan.js';

/** The differences of several chunks' plans as one plan, each list sorted by key (for the later confirmation rounds). */
export function mergePlans(plans: readonly Plan[]): Plan {
  const sorted = <T>(lists: T[][], key: (t: T) => string): T[] => lists.flat().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return {
    missing: sorted(plans.map((p) => [...p.missing]), (a) => a.key),
    changed: sorted(plans.map((p) => [...p.changed]), (a) => a.key),
    extra: sorted(plans.map((p) => [...p.extra]), (a) => a.key),
    foreign: sorted(plans.map((p) => [...p.foreign]), (k) => k),
    conflict: sorted(plans.map((p) => [...p.conflict]), (k) => k),
    inSync: plans.reduce((n, p) => n + p.inSync, 0),
    staleRecords: new Map(),
    unsettled: [],
  };
}
