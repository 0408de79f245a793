import type { BatchRead } from './reader.js';

/**
 * A read the walk still has to make: how deep its node is in the tree, and for a child list how many
 * children the parent's stat reported (the list's size is that many names).
 */
export type PendingRead = BatchRead & { readonly depth: number; readonly kids: number };

/** Bytes of a child list beyond its names (the op's header and the count). */
const LIST_OVERHEAD = 13;
/** Before a depth's first reply: ~1 KB, the longest Dubbo URL names, so a new depth's first batches fit. */
const UNKNOWN_DATA = 1024;
const UNKNOWN_NAME = 1024;
/** Weight of the newest reply in a depth's running estimate. */
const LEARN = 0.3;

/**
 * Sizes multiRead batches from the replies' sizes on the wire, kept per depth: nodes at one depth of a
 * registry look alike (interfaces, categories, provider URLs), and a child list is sized per name times
 * the parent's child count. A batch whose reply was refused as too large scales its depths' estimates by
 * how far off they were, so its reads are batched again smaller.
 */
export class BatchSizer {
  private readonly dataBytes: number[] = [];
  private readonly nameBytes: number[] = [];

  constructor(
    private readonly budgetBytes: number,
    private readonly maxOps: number,
  ) {}

  predict(op: PendingRead): number {
    if (op.kind === 'data') return this.dataBytes[op.depth] ?? UNKNOWN_DATA;
    return LIST_OVERHEAD + op.kids * (this.nameBytes[op.depth] ?? UNKNOWN_NAME);
  }

  /** Removes the next batch from the end of `todo`: as many reads as the budget holds (at most `maxOps`), at least one. */
  take(todo: PendingRead[], maxOps = this.maxOps): PendingRead[] | undefined {
    if (todo.length === 0) return undefined;
    let n = 0;
    let bytes = 0;
    for (let i = todo.length - 1; i >= 0 && n < maxOps; i--) {
      const cost = this.predict(todo[i] as PendingRead);
      if (n > 0 && bytes + cost > this.budgetBytes) break;
      bytes += cost;
      n++;
    }
    return todo.splice(todo.length - n);
  }

  /**
   * A batch came back: `bytes[i]` is result i's size on the wire, `names[i]` the names of a child list.
   * Learned once per depth and kind, from the batch's mean: a batch of many small results moves an
   * estimate no more than one result would, so it does not wipe out what a refusal taught.
   */
  learn(batch: readonly PendingRead[], bytes: readonly number[], names: readonly number[]): void {
    const data = new Map<number, { bytes: number; ops: number }>();
    const lists = new Map<number, { bytes: number; names: number }>();
    batch.forEach((op, i) => {
      const b = bytes[i] as number;
      if (op.kind === 'data') {
        const d = data.get(op.depth) ?? { bytes: 0, ops: 0 };
        data.set(op.depth, { bytes: d.bytes + b, ops: d.ops + 1 });
      } else {
        const l = lists.get(op.depth) ?? { bytes: 0, names: 0 };
        lists.set(op.depth, { bytes: l.bytes + b - LIST_OVERHEAD, names: l.names + (names[i] as number) });
      }
    });
    for (const [depth, d] of data) learn(this.dataBytes, depth, d.bytes / d.ops);
    for (const [depth, l] of lists) if (l.names > 0) learn(this.nameBytes, depth, l.bytes / l.names);
  }

  /** `batch`'s reply was `replyBytes`, over the limit: every estimate it used grows by the factor that predicts that size. */
  refused(batch: readonly PendingRead[], replyBytes: number): void {
    const fixed = batch.reduce((sum, op) => sum + (op.kind === 'data' ? 0 : LIST_OVERHEAD), 0);
    const factor = (replyBytes - fixed) / (batch.reduce((sum, op) => sum + this.predict(op), 0) - fixed);
    if (!(factor > 1 && Number.isFinite(factor))) return;
    const data = new Set<number>();
    const names = new Set<number>();
    for (const op of batch) (op.kind === 'data' ? data : names).add(op.depth);
    for (const d of data) this.dataBytes[d] = (this.dataBytes[d] ?? UNKNOWN_DATA) * factor;
    for (const d of names) this.nameBytes[d] = (this.nameBytes[d] ?? UNKNOWN_NAME) * factor;
  }
}

function learn(estimates: number[], depth: number, observed: number): void {
  const was = estimates[depth];
  estimates[depth] = was === undefined ? observed : was + LEARN * (observed - was);
}
