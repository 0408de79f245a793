import { AbortedError, ZkError } from '../errors.js';
import { isWalked } from '../paths.js';
import { drain } from '../pool.js';
import { withRetry } from '../retry.js';
import { ZkReplyTooLargeError } from './connection.js';
import type { BatchRead, ZkBatchReader, ZkNode } from './reader.js';
import type { DesiredEntry } from '../plan/merge-sides.js';
import { keepNode, type WalkOptions } from './walk.js';

const RETRY = { attempts: 5, baseDelayMs: 200, maxDelayMs: 3000 };
/** Ops per multiRead; past ~100 the server's gain flattens and replies grow. */
const MAX_OPS = 100;
/** Batches in flight at once: enough to keep the server busy while we decode. */
const MAX_IN_FLIGHT = 8;

/**
 * The walk of `walkNodes` over multiRead: getData for every node and getChildren for nodes that have
 * children, packed many to a request, several requests in flight. A batch whose reply would pass the
 * packet limit is split in halves. Same results and errors as the one-request-per-node walk.
 */
export async function walkBatched(reader: ZkBatchReader, opts: WalkOptions): Promise<DesiredEntry[]> {
  const nodes: DesiredEntry[] = [];
  const roots = new Set(opts.prefixes);
  const todo: BatchRead[] = opts.prefixes.map((path) => ({ kind: 'data', path }));
  const inFlightMax = Math.max(1, Math.min(MAX_IN_FLIGHT, Math.ceil(opts.concurrency / 8)));
  const retry = { ...RETRY, signal: opts.signal };
  // Reply bytes per op seen so far, to size batches under the packet limit before a split is needed.
  let bytesPerOp = 256;

  const onData = (path: string, node: ZkNode | null): void => {
    if (keepNode(nodes, roots, opts, path, node)) todo.push({ kind: 'children', path, asPaths: true });
  };
  const onChildren = (children: string[] | null): void => {
    for (const child of children ?? []) if (isWalked(child, opts.excludes)) todo.push({ kind: 'data', path: child });
  };

  const run = async (batch: BatchRead[]): Promise<void> => {
    let results;
    try {
      results = await withRetry(() => reader.readMany(batch), retry);
    } catch (err) {
      if (!(err instanceof ZkReplyTooLargeError) || batch.length < 2) throw err;
      bytesPerOp = Math.max(bytesPerOp, err.bytes / batch.length);
      const half = Math.ceil(batch.length / 2);
      await Promise.all([run(batch.slice(0, half)), run(batch.slice(half))]);
      return;
    }
    let bytes = 0;
    results.forEach((res, i) => {
      const op = batch[i] as BatchRead;
      if (res instanceof ZkError) throw res;
      if (op.kind === 'data') {
        const node = res as ZkNode | null;
        bytes += 120 + op.path.length + (node?.data.length ?? 0);
        onData(op.path, node);
      } else {
        const children = res as string[] | null; // full paths (asPaths)
        bytes += 40 + (children?.reduce((n, s) => n + s.length - op.path.length + 3, 0) ?? 0);
        onChildren(children);
      }
    });
    bytesPerOp = 0.8 * bytesPerOp + 0.2 * (bytes / batch.length);
  };

  const limitBytes = reader.maxBatchReplyBytes;
  const nextBatch = (): BatchRead[] | undefined => {
    if (todo.length === 0) return undefined;
    const size = Math.max(1, Math.min(MAX_OPS, Math.floor((limitBytes * 0.5) / bytesPerOp)));
    return todo.splice(Math.max(0, todo.length - size));
  };
  await drain(nextBatch, run, inFlightMax, opts.signal, () => new AbortedError('walk aborted'));
  opts.onProgress?.(nodes.length);
  return nodes;
}
