/** What zk2etcd needs from etcd; implemented over etcd3 in `etcd3-store.ts`. */
export interface EtcdEntry {
  readonly value: Buffer;
  readonly modRevision: string;
}

export interface KeyRange {
  /** A single key read on its own (the prefix root), or null. */
  readonly exact: Buffer | null;
  readonly start: Buffer;
  readonly end: Buffer;
}

/** A snapshot entry also carries its key string, so a walk can reuse it instead of holding a copy. */
export interface SnapshotEntry extends EtcdEntry {
  readonly key: string;
}

export interface Snapshot {
  readonly revision: string;
  /** Every entry, in the order read (etcd's key order within each range). */
  readonly list: readonly SnapshotEntry[];
  /**
   * The same entries by key, built on first use. A full reconcile's chunks merge `list` instead: a map
   * hashes every key, ~1 KB each in a Dubbo registry, which cost more than the rest of an in-sync diff's plan.
   */
  readonly entries: ReadonlyMap<string, SnapshotEntry>;
  /** Keys that are not valid UTF-8: never ours (we write only UTF-8 keys), so they are never touched. */
  readonly undecodable: number;
}

export function snapshotOf(revision: string, list: readonly SnapshotEntry[], undecodable: number): Snapshot {
  let entries: Map<string, SnapshotEntry> | undefined;
  return {
    revision,
    list,
    undecodable,
    get entries() {
      entries ??= new Map(list.map((e) => [e.key, e]));
      return entries;
    },
  };
}

/** A condition on the state that was read: absent (create_revision == 0) or unchanged (mod_revision). */
export type Expect = { readonly absent: true } | { readonly modRevision: string };

export type TxnOp =
  | { readonly type: 'put'; readonly key: string; readonly value: Buffer; readonly expect: Expect }
  | { readonly type: 'delete'; readonly key: string; readonly expect: Expect };

/** An extra condition on every write transaction (the leader key of etcd election). */
export interface Fence {
  readonly key: string;
  readonly createRevision: string;
}

export type TxnOutcome =
  | { readonly succeeded: true; readonly revision: string }
  /** `current` holds each op key's state read right after the failed transaction (null: absent). */
  | { readonly succeeded: false; readonly current: ReadonlyMap<string, EtcdEntry | null>; readonly fenceHeld: boolean };

export interface EtcdStore {
  /** Every key in the ranges at one pinned revision, read in pages. */
  snapshot(ranges: readonly KeyRange[], onPage?: (keys: number) => void): Promise<Snapshot>;
  /** Current state of the given keys (absent keys are missing from the map). */
  getMany(keys: readonly string[]): Promise<Map<string, EtcdEntry>>;
  /** One all-or-nothing transaction of at most 128 ops, every op guarded by its Expect. */
  commit(ops: readonly TxnOp[], fence?: Fence): Promise<TxnOutcome>;
}

/** etcd 3.4 defaults: 128 ops per txn, 1.5 MiB per request. */
export const MAX_TXN_OPS = 128;
export const MAX_TXN_BYTES = 1024 * 1024;
