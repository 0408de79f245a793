import type { EtcdEntry, EtcdStore, KeyRange } from './etcd/store.js';
import type { OwnershipStore } from './ownership/store.js';
import { parentOf, splitPath } from './paths.js';
import type { Plan } from './plan/plan.js';
import { plan, plannedKeys } from './plan/plan.js';
import { readAll } from './zk/read-all.js';
import { sameChildList, type ChildListStamp, type ZkNode, type ZkReader } from './zk/reader.js';

export interface ConfirmDeps {
  readonly zk: ZkReader;
  readonly etcd: EtcdStore;
  readonly ownership: OwnershipStore;
  readonly concurrency: number;
  readonly skipEphemeral: boolean;
  readonly roots: readonly string[];
  readonly toPath: (key: string) => string;
  /** The ranges the snapshot read, and how many keys it held: re-read whole when most keys are planned. */
  readonly etcdRanges: readonly KeyRange[];
  readonly etcdKeys: number;
  /**
   * Stamps of the child lists the layout and the walk read (the layout's `stamps`, then `walkTree`'s
   * `childLists`); without one a parent's list is re-read.
   */
  readonly childLists?: ReadonlyMap<string, ChildListStamp> | undefined;
  /**
   * Read the data of every key present now, missing ones included (rounds 2..N): after a pause the walk's
   * data may be stale, and a data-only change moves no child-list stamp.
   */
  readonly freshData?: boolean;
  /** The run's stop: a read waiting for ZooKeeper is abandoned at once (see zkReadRetry). */
  readonly signal?: AbortSignal | undefined;
}

/** Planned keys per snapshot key above which one paged range read beats point reads (~10x cheaper per key). */
const REREAD_RANGE_RATIO = 0.1;

/**
 * Re-reads both sides for just the planned keys and re-plans them (SPEC §4.3). On the ZooKeeper side a
 * `changed` key is re-read with get; whether a missing, extra or conflicting key (still) exists is read
 * per parent instead of per key (a Dubbo rollout puts hundreds of leaves under one parent): from the
 * parent's stat when its child list is unchanged since the layout or the walk read it, else from the
 * list. A missing key that still exists keeps the data the walk read; any other key present now is read
 * with get.
 */
export async function confirmPlan(previous: Plan, deps: ConfirmDeps): Promise<Plan> {
  const keys = plannedKeys(previous);
  const desired = new Map<string, Buffer>();
  const walkData = new Map(deps.freshData ? [] : previous.missing.map((a) => [a.key, a.value]));
  const changed = new Set(previous.changed.map((a) => a.key));
  const readWithGet: string[] = [...changed];
  const byParent = new Map<string, string[]>();
  const roots = new Set(deps.roots);
  for (const key of keys) {
    if (changed.has(key)) continue;
    const path = deps.toPath(key);
    if (roots.has(path)) {
      readWithGet.push(key); // a prefix root's parent is outside the mirrored tree
      continue;
    }
    const parent = parentOf(path);
    const group = byParent.get(parent);
    if (group) group.push(key);
    else byParent.set(parent, [key]);
  }

  // A parent whose child list still has the stamp the walk saw keeps the walk's children: its stamp comes
  // with a get of the parent, a few hundred bytes, where its list is ~1 KB per child (Dubbo URLs).
  const parents = [...byParent];
  const stamped = (path: string) => deps.childLists?.get(path);
  const first = await readAll(deps.zk, parents.map(([path]) => ({ kind: stamped(path) ? 'data' : 'children', path })), deps.concurrency, deps.signal);
  const fromList = (group: readonly string[], names: readonly string[] | null): void => {
    const set = new Set(names ?? []);
    for (const key of group) if (set.has(splitPath(deps.toPath(key)).name)) present(key);
  };
  const present = (key: string): void => {
    const data = walkData.get(key);
    if (data !== undefined) desired.set(key, data);
    else readWithGet.push(key); // not in the walk, present now: read it
  };
  const relist: [string, string[]][] = [];
  parents.forEach(([parent, group], i) => {
    const res = first[i];
    const walked = stamped(parent);
    if (!walked || res === null) fromList(group, res as string[] | null); // a list was read, or the parent is gone
    else if (!sameChildList((res as ZkNode).childList, walked)) relist.push([parent, group]);
    // Unchanged: what the walk read is there; anything else the walk did not keep is read on its own.
    else for (const key of group) present(key);
  });
  const lists = await readAll(deps.zk, relist.map(([path]) => ({ kind: 'children', path })), deps.concurrency, deps.signal);
  relist.forEach(([, group], i) => fromList(group, lists[i] as string[] | null));
  const nodes = await readAll(deps.zk, readWithGet.map((key) => ({ kind: 'data', path: deps.toPath(key) })), deps.concurrency, deps.signal);
  readWithGet.forEach((key, i) => {
    const node = nodes[i] as ZkNode | null;
    if (node && !(deps.skipEphemeral && node.ephemeral)) desired.set(key, node.data);
  });

  const current = keys.length > 1000 && keys.length >= REREAD_RANGE_RATIO * (deps.etcdKeys + keys.length) ? await reread(deps, keys) : await deps.etcd.getMany(keys);
  const ownership = await deps.ownership.lookup(keys.filter((k) => !desired.has(k) && current.has(k)));
  return plan({ desired, current, ownership, keys });
}

/** The planned keys' current state from a fresh read of the snapshot's ranges (a copy plans every key). */
async function reread(deps: ConfirmDeps, keys: readonly string[]): Promise<Map<string, EtcdEntry>> {
  const snap = await deps.etcd.snapshot(deps.etcdRanges);
  const out = new Map<string, EtcdEntry>();
  for (const key of keys) {
    const entry = snap.entries.get(key);
    if (entry) out.set(key, entry);
  }
  return out;
}
