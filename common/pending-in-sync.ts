import type { EtcdStore } from './etcd/store.js';
import type { UnsettledRecord } from './plan/plan.js';
import { plan } from './plan/plan.js';
import { readAll } from './zk/read-all.js';
import type { ZkReader } from './zk/reader.js';

/**
 * Of keys whose ownership record is `pending` (a crash between the etcd commit and recording its
 * revision), those in sync right now, at the mod revision seen: the writer records that revision.
 * Few keys, read again on both sides rather than kept from the chunks.
 */
export async function pendingInSync(
  keys: readonly string[],
  clients: { readonly zk: ZkReader; readonly etcd: EtcdStore },
  opts: { readonly toPath: (key: string) => string; readonly skipEphemeral: boolean; readonly concurrency: number; readonly signal?: AbortSignal | undefined },
): Promise<UnsettledRecord[]> {
  if (keys.length === 0) return [];
  const current = await clients.etcd.getMany(keys);
  const nodes = await readAll(clients.zk, keys.map((key) => ({ kind: 'data', path: opts.toPath(key) })), opts.concurrency, opts.signal);
  const desired = new Map<string, Buffer>();
  keys.forEach((key, i) => {
    const node = nodes[i];
    if (node && !Array.isArray(node) && !(opts.skipEphemeral && node.ephemeral)) desired.set(key, node.data);
  });
  return [...plan({ desired, current, ownership: new Map(), keys, records: new Map(keys.map((k) => [k, 'pending'])) }).unsettled];
}
