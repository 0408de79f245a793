import { AbortedError, ZkError } from '../errors.js';
import { isWalked } from '../paths.js';
import { drain } from '../pool.js';
import { withRetry } from '../retry.js';
import { zkReadRetry } from './errors.js';
import { ZkReplyTooLargeError } from './connection.js';
import { BatchSizer, type PendingRead } from './batch-sizer.js';
import type { BatchResults, ZkBatchReader, ZkNode } from './reader.js';
import type { DesiredEntry } from '../plan/merge-sides.js';
import { keepNode, type WalkOptions } from './walk.js';

/** Ops per multiRead; past ~100 the server's gain flattens and replies grow. */
const MAX_OPS = 100;
/** Batches in flight at once: enough to keep the server busy while we decode. */
const MAX_IN_FLIGHT = 8;

/** What the replies weighed, per reader: a run walks many chunks, and each starts from what the others learned. */
const sizers = new WeakMap<ZkBatchReader, BatchSizer>();

function sizerOf(reader: ZkBatchReader): BatchSizer {
  let sizer = sizers.get(reader);
  if (sizer === undefined) sizers.set(reader, (sizer = new BatchSizer(reader.maxBatchReplyBytes * 0.5, MAX_OPS)));
  return sizer;
}

/** Segments in the path ('/' is 0): depths mean the same level of the tree in every chunk's walk. */
function depthOf(path: string): number {
  if (path === '/') return 0;
  let n = 0;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) n++;
  return n;
}

/**
 * The walk of `walkNodes` over multiRead: getData for every node and getChildren for nodes that have
 * children, packed many to a request, several requests in flight. Batches are sized from the replies' sizes
 * (`BatchSizer`) to stay under the packet limit; a batch refused as too large is batched again smaller.
 * Same results and errors as the one-request-per-node walk.
 */
export async function walkBatched(reader: ZkBatchReader, opts: WalkOptions): Promise<DesiredEntry[]> {
  const nodes: DesiredEntry[] = [];
  const roots = new Set(opts.prefixes);
  const todo: PendingRead[] = opts.prefixes.map((path) => ({ kind: 'data', path, depth: depthOf(path), kids: 0 }));
  const inFlightMax = Math.max(1, Math.min(MAX_IN_FLIGHT, Math.ceil(opts.concurrency / 8)));
  const retry = zkReadRetry(opts.signal);
  const sizer = sizerOf(reader);

  const run = async (batch: PendingRead[]): Promise<void> => {
    let results: BatchResults;
    try {
      results = await withRetry(() => reader.readMany(batch), retry);
    } catch (err) {
      if (!(err instanceof ZkReplyTooLargeError) || batch.length < 2) throw err;
      // Batched again at once, with the grown estimates and at most half as many reads each: back in the
      // queue, the next batch could be taken after other replies had pulled the estimates down again.
      sizer.refused(batch, err.bytes);
      const half = Math.ceil(batch.length / 2);
      const parts: PendingRead[][] = [];
      for (let part = sizer.take(batch, half); part; part = sizer.take(batch, half)) parts.push(part);
      await Promise.all(parts.map(run));
      return;
    }
    const names: number[] = [];
    results.forEach((res, i) => {
      const op = batch[i] as PendingRead;
      if (res instanceof ZkError) throw res;
      if (op.kind === 'data') {
        const node = res as ZkNode | null;
        names.push(0);
        if (keepNode(nodes, roots, opts, op.path, node)) todo.push({ kind: 'children', path: op.path, asPaths: true, depth: op.depth, kids: (node as ZkNode).numChildren });
      } else {
        const children = res as string[] | null; // full paths (asPaths)
        names.push(children?.length ?? 0);
        for (const child of children ?? []) if (isWalked(child, opts.excludes)) todo.push({ kind: 'data', path: child, depth: op.depth + 1, kids: 0 });
      }
    });
    if (results.opBytes) sizer.learn(batch, results.opBytes, names);
  };

  await drain(() => sizer.take(todo), run, inFlightMax, opts.signal, () => new AbortedError('walk aborted'));
  opts.onProgress?.(nodes.length);
  return nodes;
}
