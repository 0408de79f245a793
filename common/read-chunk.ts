import type { PrefixLayout, Chunk } from './chunks.js';
import type { Config } from './config/types.js';
import type { EtcdStore, SnapshotEntry } from './etcd/store.js';
import { SourceMissingError } from './errors.js';
import { readAll } from './zk/read-all.js';
import type { ChildListStamps, ZkReader } from './zk/reader.js';
import { inKeyOrder, type DesiredEntry } from './plan/merge-sides.js';
import { walkNodes } from './zk/walk.js';

export type ReadChunkOptions = Pick<Config['zookeeper'], 'excludes' | 'skipEphemeral' | 'allowEmptySource'> & {
  readonly concurrency: number;
  readonly toKey: (path: string) => string;
  /** True for keys of synced paths (not excluded, not ZooKeeper's own). */
  readonly synced: (key: string) => boolean;
  readonly signal?: AbortSignal | undefined;
};

export interface ChunkSides {
  /** The chunk's etcd entries under synced paths, in key order (`inKeyOrder`). */
  readonly current: readonly SnapshotEntry[];
  /** Keys under the ranges that are not valid UTF-8 (counted, never touched). */
  readonly undecodable: number;
  /** The chunk's ZooKeeper nodes, in key order. */
  readonly desired: readonly DesiredEntry[];
  readonly childLists: ChildListStamps;
}

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
): Promise<ChunkSides> {
  const snap = await clients.etcd.snapshot(chunk.ranges);
  const current = inKeyOrder(snap.list.filter((e) => opts.synced(e.key)));
  // The walk's keys are strings of their own, not the snapshot's: while a chunk is read both copies are
  // held (~1 KB a key, a few MB a chunk), where finding the snapshot's string cost a map lookup per key.
  const keyOf = opts.toKey;

  const childLists: ChildListStamps = new Map(layout.stamps); // the walk adds its subtrees' stamps
  const walked = chunk.walk.length === 0 ? [] : await walkNodes(clients.zk, {
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
  const notOwn = new Set(chunk.notOwn); // a neighbouring chunk holds those nodes' own keys
  const desired = notOwn.size === 0 ? walked : walked.filter((n) => !notOwn.has(n.key));
  const nodes = await readAll(clients.zk, chunk.ownOnly.map((path) => ({ kind: 'data', path })), opts.concurrency, opts.signal);
  chunk.ownOnly.forEach((path, i) => {
    const node = nodes[i] as Exclude<(typeof nodes)[number], string[]>;
    if (node === null && path === layout.prefix && !opts.allowEmptySource) throw new SourceMissingError(path);
    if (node && !(opts.skipEphemeral && node.ephemeral)) desired.push({ key: keyOf(path), value: node.data });
  });
  return { current, undecodable: snap.undecodable, desired: inKeyOrder(desired), childLists };
}
