import { AbortedError, SourceMissingError } from '../errors.js';
import { childPath, isWalked } from '../paths.js';
import { drain } from '../pool.js';
import { withRetry } from '../retry.js';
import { zkReadRetry } from './errors.js';
import { walkBatched } from './batched-walk.js';
import type { DesiredEntry } from '../plan/merge-sides.js';
import { isBatchReader, type ChildListStamps, type ZkNode, type ZkReader } from './reader.js';

export interface WalkOptions {
  readonly prefixes: readonly string[];
  readonly excludes: readonly string[];
  readonly skipEphemeral: boolean;
  readonly allowEmptySource: boolean;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Maps a ZooKeeper path to the key the tree is indexed by (the etcd key). */
  readonly keyOf: (path: string) => string;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: (nodes: number) => void;
  /** Filled with the stamp of every node whose child list the walk reads (for the confirmation). */
  readonly childLists?: ChildListStamps | undefined;
}

/** The mirrored subtrees: etcd key -> znode data. */
export type ZkTree = Map<string, Buffer>;


/**
 * Adds a node the walk read to the tree (unless skipped as ephemeral); true when its children must be
 * read. A missing prefix root is an error unless allowed; any other missing node vanished mid-walk.
 */
export function keepNode(nodes: DesiredEntry[], roots: ReadonlySet<string>, opts: WalkOptions, path: string, node: ZkNode | null): boolean {
  if (node === null) {
    if (roots.has(path) && !opts.allowEmptySource) throw new SourceMissingError(path);
    return false;
  }
  if (!(opts.skipEphemeral && node.ephemeral)) {
    nodes.push({ key: opts.keyOf(path), value: node.data });
    if (nodes.length % 5000 === 0) opts.onProgress?.(nodes.length);
  }
  if (node.numChildren === 0) return false;
  opts.childLists?.set(path, node.childList); // read before the list: a later equal stamp means the same list
  return true;
}

/** `walkNodes` as a map. */
export async function walkTree(reader: ZkReader, opts: WalkOptions): Promise<ZkTree> {
  return new Map((await walkNodes(reader, opts)).map((n) => [n.key, n.value]));
}

/**
 * Reads every znode at or under the prefixes with at most `concurrency` requests in flight; returns
 * them in the order read. A prefix root that does not exist is an error unless allowed; a node that
 * vanishes mid-walk is skipped.
 */
export async function walkNodes(reader: ZkReader, opts: WalkOptions): Promise<DesiredEntry[]> {
  if (isBatchReader(reader)) return walkBatched(reader, opts);
  const nodes: DesiredEntry[] = [];
  const roots = new Set(opts.prefixes);
  const queue: string[] = [...opts.prefixes];
  const retry = zkReadRetry(opts.signal);

  const visit = async (path: string): Promise<void> => {
    const node = await withRetry(() => reader.get(path), retry);
    if (!keepNode(nodes, roots, opts, path, node)) return;
    const names = await withRetry(() => reader.children(path), retry);
    for (const name of names ?? []) {
      const child = childPath(path, name);
      if (isWalked(child, opts.excludes)) queue.push(child);
    }
  };

  await drain(() => queue.pop(), visit, opts.concurrency, opts.signal, () => new AbortedError('walk aborted'));
  opts.onProgress?.(nodes.length);
  return nodes;
}
