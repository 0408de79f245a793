import type { PrefixLayout, Chunk } from './chunks.js';
import type { Config } from './config/types.js';
import type { EtcdStore, Snapshot } from './etcd/store.js';
import { SourceMissingError } from './errors.js';
import { readAll } from './zk/read-all.js';
import type { ChildListStamps, ZkReader } from './zk/reader.js';
import { walkTree, type ZkTree } from './zk/walk.js';

export type ReadChunkOptions = Pick<Config['zookeeper'], 'excludes' | 'skipEphemeral' | 'allowEmptySource'> & {
  readonly concurrency: number;
  readonly toKey: (path: string) => string;
  /** True for keys of synced paths (not excluded, not ZooKeeper's own). */
  readonly synced: (key: string) => boolean;
  readonly signal?: AbortSignal | undefined;
};

/**
 * Both sides of one chunk: etcd first (so a key created meanwhile shows up as missing, never as extra),
 * then the ZooKeeper nodes whose keys fall in the chunk: its subtrees walked whole and its nodes read on
 * their own. A subtree created under an interior node since the layout is not walked: its keys, if
 * already in etcd, are planned as extras and dropped by the confirmation, which sees them in ZooKeeper.
 */
export async function readChunk(
  layout: PrefixLayout,
  chunk: Chunk,
  clients: { readonly zk: ZkReader; readonly etcd: EtcdStore },
  opts: ReadChunkOptions,
): Promise<{ snap: Snapshot; tree: ZkTree; childLists: ChildListStamps }> {
  const snap = await clients.etcd.snapshot(chunk.ranges);
  for (const key of snap.entries.keys()) if (!opts.synced(key)) snap.entries.delete(key);
  // Reuse the snapshot's key strings: at 10^5 keys of ~1 KB each, a second copy is real memory.
  const keyOf = (path: string) => {
    const key = opts.toKey(path);
    return snap.entries.get(key)?.key ?? key;
  };

  const childLists: ChildListStamps = new Map(layout.stamps); // the walk adds its subtrees' stamps
  const tree: ZkTree = chunk.walk.length === 0 ? new Map() : await walkTree(clients.zk, {
    prefixes: chunk.walk,
    excludes: opts.excludes,
    skipEphemeral: opts.skipEphemeral,
    // Only the prefix itself must exist; a subtree listed a moment ago may be gone.
    allowEmptySource: layout.interior.length === 0 ? opts.allowEmptySource : true,
    concurrency: opts.concurrency,
    keyOf,
    signal: opts.signal,
    childLists,
  });
  for (const key of chunk.notOwn) tree.delete(key); // a neighbouring chunk holds that node's own key
  const nodes = await readAll(clients.zk, chunk.ownOnly.map((path) => ({ kind: 'data', path })), opts.concurrency, opts.signal);
  chunk.ownOnly.forEach((path, i) => {
    const node = nodes[i] as Exclude<(typeof nodes)[number], string[]>;
    if (node === null && path === layout.prefix && !opts.allowEmptySource) throw new SourceMissingError(path);
    if (node && !(opts.skipEphemeral && node.ephemeral)) tree.set(keyOf(path), node.data);
  });
  return { snap, tree, childLists };
}
