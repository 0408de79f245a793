import { AbortedError, SourceMissingError } from '../errors.js';
import { childPath, isExcluded, ZK_SYSTEM_PREFIX, covers } from '../paths.js';
import { withRetry } from '../retry.js';
import { walkBatched } from './batched-walk.js';
import { isBatchReader, type ZkReader } from './reader.js';

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
}

/** The mirrored subtrees: etcd key -> znode data. */
export type ZkTree = Map<string, Buffer>;

const RETRY = { attempts: 5, baseDelayMs: 200, maxDelayMs: 3000 };

/**
 * Reads every znode at or under the prefixes with at most `concurrency` requests in flight.
 * A prefix root that does not exist is an error unless allowed; a node that vanishes mid-walk is skipped.
 */
export async function walkTree(reader: ZkReader, opts: WalkOptions): Promise<ZkTree> {
  if (isBatchReader(reader)) return walkBatched(reader, opts);
  const tree: ZkTree = new Map();
  const roots = new Set(opts.prefixes);
  const queue: string[] = [...opts.prefixes];
  let inFlight = 0;
  let failed: unknown = null;
  const retry = { ...RETRY, signal: opts.signal };

  const visit = async (path: string): Promise<void> => {
    const node = await withRetry(() => reader.get(path), retry);
    if (node === null) {
      if (roots.has(path) && !opts.allowEmptySource) throw new SourceMissingError(path);
      return;
    }
    if (!(opts.skipEphemeral && node.ephemeral)) {
      tree.set(opts.keyOf(path), node.data);
      if (tree.size % 5000 === 0) opts.onProgress?.(tree.size);
    }
    if (node.numChildren === 0) return;
    const names = await withRetry(() => reader.children(path), retry);
    for (const name of names ?? []) {
      const child = childPath(path, name);
      if (!isExcluded(child, opts.excludes) && !covers(ZK_SYSTEM_PREFIX, child)) queue.push(child);
    }
  };

  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      if (failed !== null) return;
      if (opts.signal?.aborted) {
        failed = new AbortedError('walk aborted');
        reject(failed);
        return;
      }
      while (inFlight < opts.concurrency && queue.length > 0) {
        const path = queue.pop() as string;
        inFlight++;
        visit(path).then(
          () => {
            inFlight--;
            if (queue.length === 0 && inFlight === 0) resolve();
            else pump();
          },
          (err: unknown) => {
            failed ??= err;
            reject(err);
          },
        );
      }
      if (queue.length === 0 && inFlight === 0) resolve();
    };
    pump();
  });
  opts.onProgress?.(tree.size);
  return tree;
}
