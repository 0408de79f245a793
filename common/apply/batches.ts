import type { TxnOp } from '../etcd/store.js';

export interface BatchLimits {
  readonly maxOps: number;
  readonly maxBytes: number;
}

/** Request bytes an op costs: the key appears in the compare, the op and the failure read-back. */
export function opBytes(op: TxnOp): number {
  const key = Buffer.byteLength(op.key);
  return 3 * key + (op.type === 'put' ? op.value.length : 0) + 64;
}

/** Splits ops into transactions of at most `maxOps` ops and `maxBytes` bytes (an oversized op goes alone). */
export function batchOps(ops: readonly TxnOp[], limits: BatchLimits): TxnOp[][] {
  const batches: TxnOp[][] = [];
  let current: TxnOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = opBytes(op);
    if (current.length > 0 && (current.length >= limits.maxOps || bytes + size > limits.maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
