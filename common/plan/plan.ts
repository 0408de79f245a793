import type { EtcdEntry, Expect } from '../etcd/store.js';
import type { OwnershipRecord } from '../ownership/store.js';
import { isPendingValue, provesOwnership } from '../ownership/store.js';
import { byKey, mergeSides, type DesiredEntry, type Keyed } from './merge-sides.js';

export interface PutAction {
  readonly key: string;
  readonly value: Buffer;
  readonly expect: Expect;
}
export interface DeleteAction {
  readonly key: string;
  readonly modRevision: string;
}
/** An in-sync key whose ownership record is still `pending`, at the mod revision it was seen in sync. */
export interface UnsettledRecord {
  readonly key: string;
  readonly modRevision: string;
}

export interface Plan {
  /** In ZooKeeper, not in etcd: create. */
  readonly missing: readonly PutAction[];
  /** In both, bytes differ: update (ZooKeeper is the source of truth). */
  readonly changed: readonly PutAction[];
  /** In etcd, recorded as ours and unchanged since, not in ZooKeeper: delete. */
  readonly extra: readonly DeleteAction[];
  /** In etcd, not ours, not in ZooKeeper: kept. */
  readonly foreign: readonly string[];
  /** Ours, but another writer changed it since our write, not in ZooKeeper: kept. */
  readonly conflict: readonly string[];
  /** Keys present and byte-identical on both sides. */
  readonly inSync: number;
  /** Ownership records (key -> stored value) whose key is in neither etcd nor ZooKeeper: left by a crash. */
  readonly staleRecords: ReadonlyMap<string, string>;
  /**
   * In-sync keys whose record is still `pending`: a crash between the etcd commit and recording its
   * revision. A fix records the revision seen in sync (narrowing `pending`, which proves any revision).
   */
  readonly unsettled: readonly UnsettledRecord[];
}

export interface PlanInput {
  /** Desired state: etcd key -> value (from the ZooKeeper walk). */
  readonly desired: ReadonlyMap<string, Buffer>;
  /** Current state: etcd key -> entry (from the etcd snapshot). */
  readonly current: ReadonlyMap<string, EtcdEntry>;
  /** Ownership records, needed at least for keys in `current` but not in `desired`. */
  readonly ownership: ReadonlyMap<string, OwnershipRecord>;
  /** When given, only these keys are planned (confirmation rounds); otherwise the union of both sides. */
  readonly keys?: Iterable<string>;
  /**
   * Records of ours under the prefixes (key -> stored value), when a fix wants stale ones pruned and pending
   * ones settled: at least those of keys in neither tree, and the `pending` ones of keys in both.
   */
  readonly records?: ReadonlyMap<string, string>;
}

/** Pure: trees in, plan out. Lists are sorted by key so plans and reports are deterministic. */
export function plan(input: PlanInput): Plan {
  const c = classifier(input.ownership);
  const at = (key: string): void => c.classify(key, input.desired.get(key), input.current.get(key));
  if (input.keys) {
    for (const key of new Set(input.keys)) at(key);
  } else {
    for (const key of input.desired.keys()) at(key);
    for (const key of input.current.keys()) if (!input.desired.has(key)) at(key);
  }
  const staleRecords = new Map<string, string>();
  const unsettled: UnsettledRecord[] = [];
  for (const [key, value] of input.records ?? []) {
    const want = input.desired.get(key);
    const have = input.current.get(key);
    if (want === undefined && have === undefined) staleRecords.set(key, value);
    else if (isPendingValue(value) && want !== undefined && have !== undefined && want.equals(have.value)) {
      unsettled.push({ key, modRevision: have.modRevision });
    }
  }
  return c.finish(staleRecords, unsettled);
}

export interface SortedPlanInput {
  /** Both sides in key order (`inKeyOrder`): the walk's nodes and the snapshot's entries. */
  readonly desired: readonly DesiredEntry[];
  readonly current: readonly (EtcdEntry & Keyed)[];
  /** Needed at least for keys in `current` but not in `desired`. */
  readonly ownership: ReadonlyMap<string, OwnershipRecord>;
}

/** Pure: the plan `plan` makes of the same two sides, found by a merge instead of map lookups (`merge-sides.ts`). */
export function planSorted(input: SortedPlanInput): Plan {
  const c = classifier(input.ownership);
  mergeSides(input.desired, input.current, (key, want, have) => c.classify(key, want?.value, have));
  return c.finish(new Map(), []);
}

/** Sorts each key into its list, given its bytes on each side (undefined: absent there). */
function classifier(ownership: ReadonlyMap<string, OwnershipRecord>) {
  const missing: PutAction[] = [];
  const changed: PutAction[] = [];
  const extra: DeleteAction[] = [];
  const foreign: string[] = [];
  const conflict: string[] = [];
  let inSync = 0;

  const classify = (key: string, want: Buffer | undefined, have: EtcdEntry | undefined): void => {
    if (want !== undefined) {
      if (have === undefined) missing.push({ key, value: want, expect: { absent: true } });
      else if (!want.equals(have.value)) changed.push({ key, value: want, expect: { modRevision: have.modRevision } });
      else inSync++;
      return;
    }
    if (have === undefined) return;
    const record = ownership.get(key);
    if (!record) foreign.push(key);
    else if (provesOwnership(record, have.modRevision)) extra.push({ key, modRevision: have.modRevision });
    else conflict.push(key);
  };

  const finish = (staleRecords: Map<string, string>, unsettled: UnsettledRecord[]): Plan => {
    missing.sort(byKey);
    changed.sort(byKey);
    extra.sort(byKey);
    foreign.sort();
    conflict.sort();
    unsettled.sort(byKey);
    return { missing, changed, extra, foreign, conflict, inSync, staleRecords, unsettled };
  };
  return { classify, finish };
}

/** Keys a plan would act on or report as kept-by-rule; the set re-read by a confirmation round. */
export function plannedKeys(p: Plan): string[] {
  return [...p.missing.map((a) => a.key), ...p.changed.map((a) => a.key), ...p.extra.map((a) => a.key), ...p.conflict];
}

export function differenceCount(p: Plan): number {
  return p.missing.length + p.changed.length + p.extra.length;
}
