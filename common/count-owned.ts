import type { Chunk } from './chunks.js';
import type { ReconcileClients } from './reconcile.js';
import type { SeenKeys } from './seen-keys.js';

/**
 * Keys under the prefixes that are ours (the base of --max-delete percentages): the extras plus the
 * mirrored keys with a record, by a per-key lookup, so zk2etcd 1.x records (--legacy-ownership) count
 * too. Reads etcd again chunk by chunk rather than holding every key. Without seen keys (a fix that
 * started with no records) every recorded key in etcd counts, the extras among them.
 */
export async function countOwned(
  work: readonly { readonly chunk: Chunk }[],
  clients: ReconcileClients,
  synced: (key: string) => boolean,
  seen: SeenKeys | null,
  extras: number,
): Promise<number> {
  let owned = seen ? extras : 0;
  for (const { chunk } of work) {
    const snap = await clients.etcd.snapshot(chunk.ranges);
    owned += (await clients.ownership.lookup(snap.list.map((e) => e.key).filter((k) => synced(k) && (!seen || seen.sidesOf(k).inZk)))).size;
  }
  return owned;
}
