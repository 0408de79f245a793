import { ZkError } from '../errors.js';
import { forEachPool } from '../pool.js';
import { withRetry, type RetryOptions } from '../retry.js';
import { zkReadRetry } from './errors.js';
import { ZkReplyTooLargeError } from './connection.js';
import { isBatchReader, type BatchRead, type BatchResult, type ZkBatchReader, type ZkNode, type ZkReader } from './reader.js';

const OPS_PER_BATCH = 100;

/**
 * Reads many nodes, results in the order of `ops`: multiRead batches on a batch reader, one request per
 * op otherwise. Null means absent; any other failure throws its ZkError (never read as absent).
 */
export async function readAll(reader: ZkReader, ops: readonly BatchRead[], concurrency: number, signal?: AbortSignal): Promise<Exclude<BatchResult, ZkError>[]> {
  const out: Exclude<BatchResult, ZkError>[] = new Array(ops.length);
  const retry = zkReadRetry(signal);
  if (!isBatchReader(reader)) {
    await forEachPool(ops, concurrency, async (op, i) => {
      out[i] = await withRetry<ZkNode | string[] | null>(() => (op.kind === 'data' ? reader.get(op.path) : reader.children(op.path)), retry);
    });
    return out;
  }
  const starts: number[] = [];
  for (let i = 0; i < ops.length; i += OPS_PER_BATCH) starts.push(i);
  await forEachPool(starts, Math.max(1, Math.min(8, Math.ceil(concurrency / 8))), (start) => readBatch(reader, ops, start, Math.min(ops.length, start + OPS_PER_BATCH), out, retry));
  return out;
}

async function readBatch(reader: ZkBatchReader, ops: readonly BatchRead[], from: number, to: number, out: Exclude<BatchResult, ZkError>[], retry: RetryOptions): Promise<void> {
  let results: BatchResult[];
  try {
    results = await withRetry(() => reader.readMany(ops.slice(from, to)), retry);
  } catch (err) {
    if (!(err instanceof ZkReplyTooLargeError) || to - from < 2) throw err;
    const mid = from + Math.ceil((to - from) / 2);
    await readBatch(reader, ops, from, mid, out, retry);
    await readBatch(reader, ops, mid, to, out, retry);
    return;
  }
  results.forEach((res, i) => {
    if (res instanceof ZkError) throw res;
    out[from + i] = res;
  });
}
