import { randomUUID } from 'node:crypto';
import { AbortedError, LeadershipLostError } from '../errors.js';
import type { EtcdEntry, EtcdStore, Fence, TxnOp } from '../etcd/store.js';
import { MAX_TXN_BYTES, MAX_TXN_OPS } from '../etcd/store.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { OwnershipStore, PendingMarks } from '../ownership/store.js';
import type { Plan, UnsettledRecord } from '../plan/plan.js';
import { forEachPool } from '../pool.js';
import { requestTooLarge, surelyNotApplied } from '../etcd/errors.js';
import { withRetry } from '../retry.js';
import { batchOps } from './batches.js';
import type { ApplyResult, ChangeOrigin, OriginOf, PlanWriter } from './writer.js';

export interface EtcdWriterDeps {
  readonly etcd: EtcdStore;
  readonly ownership: OwnershipStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly inFlight?: number;
  readonly fence?: () => Fence | undefined;
  readonly eventLog?: boolean;
  /** Test hook: called at the crash points the ownership order must survive. */
  readonly failpoint?: (point: Failpoint) => void;
}

export type Failpoint = 'after-pending' | 'after-put-commit' | 'after-delete-commit';

const TXN_RETRY = { attempts: 4, baseDelayMs: 250, maxDelayMs: 3000 };
const NO_MARKS: PendingMarks = { token: '' };

/** True when the op's condition holds on `state` (null: absent). */
function conditionHolds(op: TxnOp, state: EtcdEntry | null): boolean {
  return 'absent' in op.expect ? state === null : state !== null && state.modRevision === op.expect.modRevision;
}

/**
 * A failed condition, and etcd holds what the op would produce. A delete finding the key gone is done
 * whoever deleted it (forgetting a record of an absent key claims nothing). A put finding its bytes is
 * ours outright only if an attempt of ours may have committed them (its outcome unknown: an error, then a
 * retry); otherwise the failed condition proves our transaction did not commit, and the store decides
 * (`settleFound`): ours only if another write of this instance recorded that very revision. Recording
 * another writer's bytes would let us delete that writer's key later (SPEC §1).
 */
function foundDone(op: TxnOp, state: EtcdEntry | null): boolean {
  return op.type === 'delete' ? state === null : state !== null && state.value.equals(op.value);
}

/**
 * The event log's ZooKeeper side: when the change's first event arrived, and the zxid in ZooKeeper's own
 * hex notation (as its `stat` and logs print it). Absent when no event caused the change (a repair).
 */
function zkFields(origin: ChangeOrigin | undefined): { zk?: { eventAt: string; zxid?: string } } {
  if (!causedByEvent(origin)) return {};
  const eventAt = new Date(performance.timeOrigin + origin.since).toISOString();
  return { zk: origin.zxid === undefined ? { eventAt } : { eventAt, zxid: `0x${origin.zxid.toString(16)}` } };
}

/** A ZooKeeper event caused the change; otherwise it repairs a difference (a full reconcile, the addon client's load). */
const causedByEvent = (origin: ChangeOrigin | undefined): origin is ChangeOrigin => origin !== undefined && Number.isFinite(origin.since);

/**
 * Writes a plan into etcd in conditional transactions, several in flight. Per batch the order survives
 * a crash anywhere: puts are recorded `pending` in the ownership store first, then committed, then
 * recorded with their revision; deletes are committed, then forgotten.
 */
export function etcdWriter(deps: EtcdWriterDeps): PlanWriter {
  const { etcd, ownership, metrics, logger } = deps;
  // Unsampled and whatever --log-level or POST /log set (SPEC §8): its own level, fixed at info.
  const eventLogger = deps.eventLog ? logger.child({}, { level: 'info' }) : null;
  return {
    async write(plan: Plan, signal?: AbortSignal, origin?: OriginOf): Promise<ApplyResult> {
      const ops: TxnOp[] = [
        ...plan.missing.map((a): TxnOp => ({ type: 'put', key: a.key, value: a.value, expect: a.expect })),
        ...plan.changed.map((a): TxnOp => ({ type: 'put', key: a.key, value: a.value, expect: a.expect })),
        ...plan.extra.map((a): TxnOp => ({ type: 'delete', key: a.key, expect: { modRevision: a.modRevision } })),
      ];
      const fenced = deps.fence?.() !== undefined;
      const batches = batchOps(ops, { maxOps: MAX_TXN_OPS - (fenced ? 1 : 0), maxBytes: MAX_TXN_BYTES });
      let put = 0;
      let del = 0;
      const skippedKeys: string[] = [];
      const refusedKeys: string[] = [];

      await forEachPool(batches, deps.inFlight ?? 8, async (batch) => {
        // Abandon batches not yet started (started ones finish), and fail the run rather than report a partial fix.
        if (signal?.aborted) throw new AbortedError('stopped by signal before every batch was applied');
        const trace = randomUUID();
        deps.fence?.(); // throws once this process no longer leads: nothing is marked or sent then
        const puts = batch.filter((op) => op.type === 'put').map((op) => op.key);
        const marks: PendingMarks = puts.length > 0 ? await ownership.markPending(puts) : NO_MARKS;
        if (puts.length > 0) deps.failpoint?.('after-pending');
        await commitBatch(batch, marks, trace);
      });
      await pruneStaleRecords(plan.staleRecords);
      await settleUnsettled(plan.unsettled);
      return { put, delete: del, skipped: skippedKeys.length + refusedKeys.length, skippedKeys, refusedKeys };

      /** Commits one marked batch until each op is applied or skipped (its condition failed, or etcd refused it as too large). */
      async function commitBatch(batch: readonly TxnOp[], marks: PendingMarks, trace: string): Promise<void> {
        let pending = batch;
        while (pending.length > 0) {
          const fence = deps.fence?.();
          let outcomeUnknown = false; // an attempt failed with an error that may have committed it all the same
          // Not retried once stopped (SIGTERM): the batch is abandoned.
          const outcome = await withRetry(
            () => etcd.commit(pending, fence),
            {
              ...TXN_RETRY,
              signal,
              onRetry: (err) => {
                if (!surelyNotApplied(err)) outcomeUnknown = true;
                logger.warn({ err: String(err), trace }, 'etcd transaction failed; retrying');
              },
            },
          ).catch(async (err: unknown) => {
            if (requestTooLarge(err)) return null; // refused before it could apply anything
            // Marks left behind would prove ownership of whatever another writer puts under the key later (and
            // a watcher retrying through an outage would stack one per attempt): take them back when no attempt
            // can have committed. Otherwise they stay, the safe side (SPEC §3).
            if (!outcomeUnknown && (surelyNotApplied(err) || err instanceof AbortedError)) await restoreAfterFailure(pending, marks, trace);
            throw err;
          });
          if (outcome === null) {
            await refused(pending, marks, trace);
            return;
          }
          if (outcome.succeeded) {
            await settle(pending, outcome.revision, trace, marks);
            break;
          }
          if (!outcome.fenceHeld) {
            if (!outcomeUnknown) await restoreAfterFailure(pending, marks, trace); // the new leader's marks are layers of their own
            throw new LeadershipLostError('leader key changed: this process is no longer the leader; stopping writes');
          }
          const retry: TxnOp[] = [];
          const skippedHere: TxnOp[] = [];
          const found: { op: TxnOp; revision: string }[] = []; // puts finding their bytes, outcome known
          for (const op of pending) {
            const state = outcome.current.get(op.key) ?? null;
            if (conditionHolds(op, state)) retry.push(op);
            else if (!foundDone(op, state)) skippedHere.push(op);
            else if (op.type === 'put' && !outcomeUnknown) found.push({ op, revision: (state as EtcdEntry).modRevision });
            // Gone, and our delete did not commit: another writer deleted it (and counts it). Its record goes.
            else if (op.type === 'delete' && !outcomeUnknown) await forgetDeleted([op]);
            else await settle([op], state?.modRevision ?? '', trace, marks);
          }
          if (found.length > 0) {
            const ours = await ownership.settleFound(marks, new Map(found.map((f) => [f.op.key, f.revision])));
            // Ours: another write of this instance committed these bytes and counted them; not applied here.
            for (const { op } of found) if (!ours.has(op.key)) skippedHere.push(op);
            if (ours.size > 0) logger.debug({ keys: [...ours].slice(0, 5), count: ours.size, trace }, 'already written and recorded by another write of this instance');
          }
          if (skippedHere.length > 0) {
            skippedKeys.push(...skippedHere.map((op) => op.key));
            metrics.conflicts.inc(skippedHere.length);
            logger.warn({ keys: skippedHere.slice(0, 5).map((o) => o.key), count: skippedHere.length, trace }, 'another writer changed keys since they were read; skipped');
            // Layers of keys settleFound already handled are gone: restoring them again changes nothing.
            await ownership.restore(marks, skippedHere.filter((op) => op.type === 'put').map((op) => op.key));
          }
          pending = retry;
        }
      }

      /**
       * A transaction etcd refused as too large: one op per transaction, so that only the oversized value
       * (a znode over etcd's --max-request-bytes, with ZooKeeper's jute.maxbuffer raised) is left out.
       * Failing the run or the watcher on it, or retrying it forever, would stop every other key's sync.
       */
      async function refused(ops: readonly TxnOp[], marks: PendingMarks, trace: string): Promise<void> {
        if (ops.length > 1) {
          for (const op of ops) await commitBatch([op], marks, trace);
          return;
        }
        const op = ops[0] as TxnOp;
        refusedKeys.push(op.key);
        const bytes = op.type === 'put' ? op.value.length : 0;
        logger.error(
          { key: op.key, bytes, trace },
          "etcd refused this value as too large for a request: not written (raise etcd's --max-request-bytes, 1.5 MiB by default, or make the znode smaller); the other keys are synced",
        );
        if (op.type === 'put') await ownership.restore(marks, [op.key]);
      }

      /** Takes back the marks of puts that surely did not commit; a Redis failure here leaves them, the safe side. */
      async function restoreAfterFailure(ops: readonly TxnOp[], marks: PendingMarks, trace: string): Promise<void> {
        const keys = ops.filter((op) => op.type === 'put').map((op) => op.key);
        if (keys.length === 0) return;
        try {
          await ownership.restore(marks, keys);
        } catch (err) {
          logger.warn({ err: String(err), count: keys.length, trace }, 'could not take back the pending marks of writes etcd refused: they stay until a run finds the keys in sync or gone');
        }
      }

      /** Records of keys absent from etcd now too: removed unless a writer re-recorded them meanwhile. */
      async function pruneStaleRecords(stale: ReadonlyMap<string, string>): Promise<void> {
        if (stale.size === 0) return;
        const present = await etcd.getMany([...stale.keys()]);
        const absent = new Map([...stale].filter(([key]) => !present.has(key)));
        const removed = await ownership.forgetIfUnchanged(absent);
        if (removed > 0) logger.info({ removed }, 'pruned ownership records of keys that no longer exist');
      }

      /**
       * `pending` records of in-sync keys, left by a crash after the commit: recorded at the revision seen
       * in sync if etcd still holds it and the record is still `pending` (a write since then leaves both
       * for that writer, or for the next run).
       */
      async function settleUnsettled(unsettled: readonly UnsettledRecord[]): Promise<void> {
        if (unsettled.length === 0) return;
        const now = await etcd.getMany(unsettled.map((u) => u.key));
        const revisions = new Map(unsettled.filter((u) => now.get(u.key)?.modRevision === u.modRevision).map((u) => [u.key, u.modRevision]));
        const settled = await ownership.settlePending(revisions);
        if (settled > 0) logger.info({ settled }, 'recorded the revisions of writes a crash left pending');
      }

      /** Forgets the records of deleted keys, each only if it still holds the revision the delete expected. */
      async function forgetDeleted(done: readonly TxnOp[]): Promise<void> {
        await ownership.forget(new Map(done.flatMap((op) => (op.type === 'delete' && 'modRevision' in op.expect ? [[op.key, op.expect.modRevision] as const] : []))));
      }

      /** Counts and logs writes done at `revision`, recording the puts' revisions. */
      async function settle(done: readonly TxnOp[], revision: string, trace: string, marks: PendingMarks): Promise<void> {
        const putKeys = done.filter((op) => op.type === 'put').map((op) => op.key);
        const delKeys = done.filter((op) => op.type === 'delete').map((op) => op.key);
        if (putKeys.length > 0) deps.failpoint?.('after-put-commit');
        if (putKeys.length > 0) {
          const writes = new Map(done.flatMap((op) => (op.type === 'put' ? [[op.key, 'modRevision' in op.expect ? op.expect.modRevision : null] as const] : [])));
          const lost = await ownership.recordRevision(marks, writes, revision);
          if (lost > 0) {
            logger.warn(
              { keys: lost, trace },
              'ownership records vanished while their writes were in flight: recorded again. Another run pruning them is harmless; if Redis lost data (restarted without persistence, flushed, evicting), records of earlier writes are lost too: see docs/operations.md, "Ownership records lost"',
            );
          }
        }
        if (delKeys.length > 0) deps.failpoint?.('after-delete-commit');
        if (delKeys.length > 0) await forgetDeleted(done);
        put += putKeys.length;
        del += delKeys.length;
        metrics.applied.inc({ type: 'put' }, putKeys.length);
        metrics.applied.inc({ type: 'delete' }, delKeys.length);
        // Repairs of what the events missed (a full reconcile, the addon client's load): zk2etcd 1.x's "fixed".
        const repairs = origin ? done.filter((op) => !causedByEvent(origin(op.key))) : done;
        const repairedPuts = repairs.filter((op) => op.type === 'put').length;
        metrics.fixed.inc({ type: 'put' }, repairedPuts);
        metrics.fixed.inc({ type: 'delete' }, repairs.length - repairedPuts);
        if (eventLogger) {
          for (const op of done) eventLogger.info({ event: op.type, key: op.key, revision, trace, ...zkFields(origin?.(op.key)) }, 'applied');
        }
      }
    },
  };
}

