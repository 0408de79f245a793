/**
 * Which etcd keys zk2etcd wrote (SPEC §3). Record per key: the mod revision of our last write,
 * `pending` while a write is in flight, or `legacy` (a zk2etcd 1.x record, accepted with --legacy-ownership).
 */
export type OwnershipRecord = { readonly kind: 'revision'; readonly revision: string } | { readonly kind: 'pending' } | { readonly kind: 'legacy' };

/** One markPending call: the token of its layer, which restore, recordRevision and settleFound act on. */
export interface PendingMarks {
  readonly token: string;
}

export interface OwnershipStore {
  /** Records for the given keys; keys with no record are absent from the map. */
  lookup(keys: readonly string[]): Promise<Map<string, OwnershipRecord>>;
  /**
   * Marks keys `pending` before their etcd write, with a layer of this call's own in front of what each
   * key held (other writes' layers included); safe to repeat.
   */
  markPending(keys: readonly string[]): Promise<PendingMarks>;
  /** For writes that did not happen: removes their layer from each key; what it covered is the record again. */
  restore(marks: PendingMarks, keys: readonly string[]): Promise<void>;
  /**
   * After a committed write at `revision` (`writes`: key -> the mod revision the write expected, null for a
   * create): the write's layer, where it still is, becomes the revision; so does a record that is gone (the
   * mark pruned or lost) or still at the expected revision. A record another writer made since stays: a
   * writer deposed meanwhile must not overwrite the new leader's records. Returns how many records were gone.
   */
  recordRevision(marks: PendingMarks, writes: ReadonlyMap<string, string | null>, revision: string): Promise<number>;
  /**
   * Puts whose condition failed but whose keys hold their bytes (key -> the revision found), when our
   * transaction surely did not commit: a key is ours only if this instance recorded exactly that revision
   * under our layer (another write of ours). Each layer is removed either way. Returns the keys found ours.
   */
  settleFound(marks: PendingMarks, found: ReadonlyMap<string, string>): Promise<Set<string>>;
  /**
   * After a committed delete (key -> the mod revision deleted): each record goes if it still holds that
   * revision or is `pending`; a revision recorded by another write since stays.
   */
  forget(deleted: ReadonlyMap<string, string>): Promise<void>;
  /** True when this instance has no record at all and no zk2etcd 1.x records are accepted (a first copy). */
  isEmpty(): Promise<boolean>;
  /** Every record of this instance that passes `filter`, as stored (`pending` or a revision). */
  scan(filter: (key: string, value: string) => boolean): Promise<Map<string, string>>;
  /** Removes each record only if it still holds the given stored value (another writer may have moved). */
  forgetIfUnchanged(records: ReadonlyMap<string, string>): Promise<number>;
  /**
   * Replaces each record that is still `pending`, with marks old enough to be a crash's leftovers, with the
   * given mod revision (key -> revision); records that moved on meanwhile (a write in flight finished or was
   * restored), or hold a write still in flight, are left alone. Returns how many changed.
   */
  settlePending(revisions: ReadonlyMap<string, string>): Promise<number>;
  /**
   * --legacy-ownership, in a run that writes: every zk2etcd 1.x record whose key matches one of `patterns`
   * (Redis glob patterns) and passes `inScope` becomes a record of ours at the mod revision etcd holds now
   * (unless we already have one), or is dropped when etcd no longer holds the key; the 1.x record is then
   * removed. A 1.x record carries no revision, so left in place it would prove ownership of whatever a
   * later writer puts under that key. Without --legacy-ownership: nothing to do.
   */
  adoptLegacy(patterns: readonly string[], inScope: (key: string) => boolean, revisionsOf: RevisionsOf): Promise<LegacyAdoption>;
}

/** The current mod revision of each key present in etcd (absent keys are missing from the map). */
export type RevisionsOf = (keys: readonly string[]) => Promise<ReadonlyMap<string, string>>;

export interface LegacyAdoption {
  /** 1.x records now recorded as ours at the key's current revision. */
  readonly adopted: number;
  /** 1.x records removed: of keys etcd no longer holds, or already recorded as ours. */
  readonly removed: number;
}

/** `pending`, or `pending:<writer>` as a writer marks the keys of its write in flight. */
export const isPendingValue = (value: string): boolean => value === 'pending' || value.startsWith('pending:');

export function parseRecord(value: string): OwnershipRecord {
  return isPendingValue(value) ? { kind: 'pending' } : { kind: 'revision', revision: value };
}

/** True when a key recorded as ours may be deleted or replaced: unchanged since our write. */
export function provesOwnership(record: OwnershipRecord | undefined, modRevision: string): boolean {
  if (!record) return false;
  return record.kind !== 'revision' || record.revision === modRevision;
}
