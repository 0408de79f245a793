import type { MaxDelete } from '../config/types.js';
import { DeletionGuardError } from '../errors.js';

/** The most deletions allowed, given how many keys under the prefixes are ours. */
export function deletionLimit(maxDelete: MaxDelete, owned: number): number {
  return maxDelete.kind === 'count' ? maxDelete.value : Math.floor((owned * maxDelete.value) / 100);
}

/** Throws DeletionGuardError when a fix would delete more than --max-delete allows (unless --force). */
export function checkDeletionGuard(deletes: number, owned: number, maxDelete: MaxDelete, force: boolean): void {
  if (deletes === 0 || force) return;
  const limit = deletionLimit(maxDelete, owned);
  if (deletes > limit) throw new DeletionGuardError(deletes, limit, owned);
}
