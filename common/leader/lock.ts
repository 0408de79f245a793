import type { Fence } from '../etcd/store.js';
import { LeadershipLostError } from '../errors.js';

/**
 * Leader election as the watcher uses it (SPEC §6). Only the leader writes; losing leadership
 * aborts `lost` at once so in-flight work stops and the process exits non-zero.
 */
export interface LeaderLock {
  /** Resolves once this process leads; rejects with AbortedError if `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<void>;
  /** Aborted the moment leadership is lost (not by `release`). */
  readonly lost: AbortSignal;
  /** etcd election: the leader key every write transaction compares; undefined otherwise. */
  fence(): Fence | undefined;
  isLeader(): boolean;
  /** Gives leadership up (bounded, best effort) so another replica takes over at once. */
  release(): Promise<void>;
}

/** `--leader-elect none`: always the leader. */
export function noLeaderElection(): LeaderLock {
  const never = new AbortController();
  let leading = false;
  return {
    async acquire() {
      leading = true;
    },
    lost: never.signal,
    fence: () => undefined,
    isLeader: () => leading,
    async release() {
      leading = false;
    },
  };
}

/**
 * The writer's fence: the lock's leader key to compare (etcd election), or nothing to compare (Kubernetes
 * Lease, no election). Throws once this process no longer leads, lost or released: the election has no
 * fence left to give then, and a write sent without one would land.
 */
export function writeFence(lock: Pick<LeaderLock, 'lost' | 'isLeader' | 'fence'>): () => Fence | undefined {
  return () => {
    if (lock.lost.aborted || !lock.isLeader()) throw new LeadershipLostError('this process no longer leads: writes stopped');
    return lock.fence();
  };
}
