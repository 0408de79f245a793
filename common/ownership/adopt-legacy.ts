import type { EtcdStore } from '../etcd/store.js';
import type { Logger } from '../logger.js';
import type { LegacyAdoption, OwnershipStore } from './store.js';

/** A Redis SCAN MATCH pattern for keys starting with `literal` (glob characters escaped). */
export function startsWithPattern(literal: string): string {
  return `${literal.replace(/[\\*?[\]]/g, '\\$&')}*`;
}

export interface AdoptScope {
  /** The etcd keys of the ZooKeeper prefixes (a 1.x record's name is its etcd key). */
  readonly prefixKeys: readonly string[];
  /** Keys in the synced subtrees: under a prefix by path segment, not excluded. */
  readonly inScope: (key: string) => boolean;
}

/**
 * --legacy-ownership, before a run that writes: turns the zk2etcd 1.x records under the prefixes into
 * records of ours at the revision etcd holds now, and drops those of keys etcd no longer holds (see
 * OwnershipStore.adoptLegacy). From then on every key 1.x wrote is checked by revision like our own.
 */
export async function adoptLegacyRecords(scope: AdoptScope, clients: { ownership: OwnershipStore; etcd: EtcdStore }, logger: Logger): Promise<LegacyAdoption> {
  const revisionsOf = async (keys: readonly string[]) => new Map([...(await clients.etcd.getMany(keys))].map(([k, e]) => [k, e.modRevision]));
  const result = await clients.ownership.adoptLegacy(scope.prefixKeys.map(startsWithPattern), scope.inScope, revisionsOf);
  if (result.adopted + result.removed > 0) {
    logger.info(result, 'zk2etcd 1.x records under the prefixes adopted (recorded as ours at the revision etcd holds now) or removed (key gone, or already ours)');
  }
  return result;
}
