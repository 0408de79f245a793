import type { MaxDelete } from '../config/types.js';
import { DeletionGuardError } from '../errors.js';

/** The most deletions allowed, given how many keys under the prefixes are ours. */
export function deletionLimit(maxDelete: MaxDelete, owned: number): number {
  return maxDelete.kind === 'count' ? maxDelete.value : Math.floor((owned * maxDelete.value) / 100);
}

/**
 * How many deletes the guard counts: all of them (a fix, SPEC §4.6), or with `creates` given (the watcher)
 * only those beyond the creates. A Dubbo rollout replaces providers (deletes and creates about as many),
 * which a watcher that missed events sees all at once; a wrong or emptied source deletes without creating.
 */
export function guardedDeletes(deletes: number, creates: number | null): number {
  return creates === null ? deletes : Math.max(0, deletes - creates);
}

/** Throws DeletionGuardError when a fix would delete more than --max-delete allows (unless --force). */
export function checkDeletionGuard(deletes: number, owned: number, maxDelete: MaxDelete, force: boolean, creates: number | null = null): void {
  const counted = guardedDeletes(deletes, creates);
  if (counted === 0 || force) return;
  const limit = deletionLimit(maxDelete, owned);
  if (counted > limit) throw new DeletionGuardError(deletes, limit, owned, creates);
}
