import { setTimeout as sleep } from 'node:timers/promises';
import type { ApplyResult, PlanWriter } from './apply/writer.js';
import { NOTHING_APPLIED } from './apply/writer.js';
import { layoutPrefix, type Chunk, type PrefixLayout } from './chunks.js';
import type { Config } from './config/types.js';
import type { EtcdStore } from './etcd/store.js';
import { AbortedError, DeletionGuardError } from './errors.js';
import { SeenKeys } from './seen-keys.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { adoptLegacyRecords } from './ownership/adopt-legacy.js';
import { isPendingValue, type OwnershipStore } from './ownership/store.js';
import { etcdRangesFor, keyMapper, syncedKeyFilter } from './paths.js';
import { checkDeletionGuard, deletionLimit, guardedDeletes } from './plan/guard.js';
import type { DeleteAction, Plan, UnsettledRecord } from './plan/plan.js';
import { differenceCount, planSorted } from './plan/plan.js';
import { byKey, mergeSides } from './plan/merge-sides.js';
import { mergePlans } from './plan/merge.js';
import { SummaryCollector, type PlanSummary } from './plan/summary.js';
import { confirmPlan } from './confirm.js';
import { countOwned } from './count-owned.js';
import { pendingInSync } from './pending-in-sync.js';
import { forEachPool } from './pool.js';
import type { Progress } from './progress.js';
import { noProgress } from './progress.js';
import { readChunk } from './read-chunk.js';
import type { ChildListStamps, ZkReader } from './zk/reader.js';

export interface ReconcileClients {
  readonly zk: ZkReader;
  readonly etcd: EtcdStore;
  readonly ownership: OwnershipStore;
}

export interface ReconcileContext {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Present for fix: applies the confirmed plan (the real writer, or the dry-run wrapper). */
  readonly writer?: PlanWriter | undefined;
  readonly progress?: Progress;
  readonly signal?: AbortSignal | undefined;
  /** Bytes of creates and updates held back until the deletion guard passes (default HOLD_BYTES). */
  readonly holdBytes?: number | undefined;
}

export type ReconcileOptions = Pick<Config, 'zookeeper' | 'etcd' | 'concurrent' | 'maxRound' | 'roundIntervalMs' | 'maxDelete' | 'force'> & {
  /** The writer writes nothing (--dry-run): no creates or updates need holding back for the guard. */
  readonly dryRun?: boolean;
  /** The guard counts only deletes beyond the creates (the watcher: see `guardedDeletes`). */
  readonly guardNetOfCreates?: boolean;
};

export interface ReconcileResult {
  readonly zkNodes: number;
  readonly etcdKeys: number;
  readonly summary: PlanSummary;
  readonly applied: ApplyResult | null;
  readonly durationSeconds: number;
  /** --dry-run: the refusal a real fix would have met (it throws instead). */
  readonly refusedByGuard?: DeletionGuardError | undefined;
}

/** Chunks in flight: while one waits on etcd another walks ZooKeeper and a third applies. */
const CHUNKS_IN_FLIGHT = 4;
const NO_RECORDS = 'no ownership records for this --instance, yet etcd holds keys under the prefixes: none of them will be deleted when their znodes go. Expected on a first run over keys another tool or zk2etcd 1.x wrote (see --legacy-ownership); otherwise Redis lost the records (docs/operations.md, "Ownership records lost")';
/** Creates and updates held back until the deletion guard has passed: at most this many key and value bytes. */
export const HOLD_BYTES = 64 * 1024 * 1024;

/**
 * One full reconcile (SPEC §4), chunk by chunk (`chunks.ts`) so memory stays bounded: per chunk the etcd
 * read, then the ZooKeeper walk, a pure plan, the first confirmation round and (with a writer) the
 * conditional creates and updates. Deletes wait for the end: the deletion guard needs the total. With
 * --max-round above 1 the later rounds run once over all chunks' differences, so each pause is paid once.
 *
 * A guard that refuses refuses the whole fix (SPEC §4.6): when some keys are already ours, so that the
 * guard could refuse, the creates and updates are held back until it has passed (a first copy has
 * nothing to delete and writes as it goes). More than HOLD_BYTES of them are not held: that pass goes on
 * reading only, checks the guard, and a second pass writes as it goes, deleting only what it approved.
 */
export async function reconcile(opts: ReconcileOptions, clients: ReconcileClients, ctx: ReconcileContext): Promise<ReconcileResult> {
  const started = performance.now();
  if (ctx.writer && !opts.dryRun) {
    const { prefixes, excludes } = opts.zookeeper;
    const inScope = syncedKeyFilter(opts.etcd.prefix, prefixes, excludes);
    await adoptLegacyRecords({ prefixKeys: prefixes.map(keyMapper(opts.etcd.prefix).toKey), inScope }, clients, ctx.logger);
  }
  const first = await reconcilePass(opts, clients, ctx, { started, mayHold: true });
  if (!('approvedDeletes' in first)) return first;
  ctx.logger.info({ holdBytes: ctx.holdBytes ?? HOLD_BYTES }, 'too many creates and updates to hold back until the deletion guard passed; it passed on what was read: reconciling again, writing as it goes');
  const second = await reconcilePass(opts, clients, ctx, { started, mayHold: false, approvedDeletes: first.approvedDeletes });
  if ('approvedDeletes' in second) throw new Error('a pass that holds nothing back cannot overflow'); // unreachable
  return second;
}

interface Pass {
  readonly started: number;
  readonly mayHold: boolean;
  /**
   * The second pass deletes only keys the first pass's guard approved: a key gone from ZooKeeper since
   * then waits for the next run, so that the guard never refuses after this pass's writes.
   */
  readonly approvedDeletes?: ReadonlySet<string>;
}

async function reconcilePass(opts: ReconcileOptions, clients: ReconcileClients, ctx: ReconcileContext, pass: Pass): Promise<ReconcileResult | { readonly approvedDeletes: ReadonlySet<string> }> {
  const { started } = pass;
  const { metrics, logger } = ctx;
  const progress = ctx.progress ?? noProgress;
  const mapper = keyMapper(opts.etcd.prefix);
  const { prefixes, excludes } = opts.zookeeper;
  const synced = syncedKeyFilter(opts.etcd.prefix, prefixes, excludes);
  const layouts: PrefixLayout[] = [];
  for (const prefix of prefixes) {
    layouts.push(await layoutPrefix(clients.zk, prefix, { ...opts.zookeeper, etcdPrefix: opts.etcd.prefix, concurrency: opts.concurrent, signal: ctx.signal }));
  }
  const work = layouts.flatMap((layout) => layout.chunks.map((chunk) => ({ layout, chunk })));
  logger.debug({ chunks: work.length, interior: layouts.reduce((n, l) => n + l.interior.length, 0) }, 'zookeeper laid out');

  const collector = new SummaryCollector();
  // Seen keys, for the ownership-record checks at the end of a fix (stale and unsettled records). A fix
  // that starts with no records at all (a first copy) has none to repair, and skips both.
  const noRecords = await clients.ownership.isEmpty();
  const repairRecords = ctx.writer !== undefined && !noRecords;
  const seen = repairRecords ? new SeenKeys() : null;
  const hold = pass.mayHold && repairRecords && !opts.force && !opts.dryRun;
  const heldPuts: Plan[] = [];
  let heldBytes = 0;
  let overflow = false;
  const extras: DeleteAction[] = [];
  const held: Plan[] = [];
  const heldLists: ChildListStamps = new Map(); // the held chunks' child-list stamps, for rounds 2..N
  let applied: ApplyResult = NOTHING_APPLIED;
  let zkNodes = 0;
  let etcdKeys = 0;
  let undecodable = 0;
  let refusedByGuard: DeletionGuardError | undefined;
  const confirmDeps = (ranges: Chunk['ranges'], keys: number, childLists: ChildListStamps) => ({
    ...clients,
    concurrency: opts.concurrent,
    skipEphemeral: opts.zookeeper.skipEphemeral,
    roots: prefixes,
    toPath: (key: string) => mapper.toPath(key) as string,
    etcdRanges: ranges,
    etcdKeys: keys,
    childLists,
    signal: ctx.signal,
  });
  const write = async (p: Plan): Promise<void> => {
    if (!ctx.writer || differenceCount(p) + p.staleRecords.size + p.unsettled.length === 0) return;
    const result = await ctx.writer.write(p, ctx.signal); // read `applied` after the await: chunks write concurrently
    applied = addApplied(applied, result);
  };
  /** A confirmed plan: counted, its creates and updates applied now (or held), its deletes kept for the guard. */
  const take = async (confirmed: Plan): Promise<void> => {
    collector.add(confirmed);
    extras.push(...confirmed.extra);
    const puts: Plan = { ...confirmed, extra: [] };
    if (!hold) return write(puts);
    if (overflow) return;
    heldPuts.push(puts);
    for (const a of [...puts.missing, ...puts.changed]) heldBytes += a.key.length + a.value.length;
    if (heldBytes > (ctx.holdBytes ?? HOLD_BYTES)) {
      overflow = true;
      heldPuts.length = 0;
    }
  };

  await forEachPool(work, CHUNKS_IN_FLIGHT, async ({ layout, chunk }) => {
    if (ctx.signal?.aborted) throw new AbortedError('stopped by signal before every chunk was reconciled');
    const sides = await readChunk(layout, chunk, clients, { ...opts.zookeeper, concurrency: opts.concurrent, toKey: mapper.toKey, synced, signal: ctx.signal });
    const { desired, childLists } = sides;
    zkNodes += desired.length;
    etcdKeys += sides.current.length;
    undecodable += sides.undecodable;
    progress.update('reconciling', zkNodes);
    const candidates: string[] = []; // in etcd only: their records decide extra, foreign or conflict
    mergeSides(desired, sides.current, (key, want, have) => {
      seen?.mark(key, have !== undefined, want !== undefined);
      if (want === undefined) candidates.push(key);
    });
    let current = planSorted({ desired, current: sides.current, ownership: await clients.ownership.lookup(candidates) });
    const foreign = new Set(current.foreign);
    let inSync = current.inSync;
    if (differenceCount(current) + current.conflict.length > 0) {
      current = await confirmPlan(current, confirmDeps(chunk.ranges, sides.current.length, childLists));
      for (const k of current.foreign) foreign.add(k);
      inSync += current.inSync;
    }
    const confirmed: Plan = { ...current, foreign: [...foreign].sort(), inSync };
    if (opts.maxRound > 1 && differenceCount(confirmed) + confirmed.conflict.length > 0) {
      held.push(confirmed);
      for (const [path, stamp] of childLists) heldLists.set(path, stamp);
      return;
    }
    await take(confirmed);
  });
  progress.done();
  logger.debug({ nodes: zkNodes, keys: etcdKeys, held: held.length }, 'chunks reconciled');
  if (noRecords && etcdKeys > 0) logger.warn({ keys: etcdKeys }, NO_RECORDS);
  if (undecodable > 0) logger.warn({ keys: undecodable }, 'etcd keys under the prefixes that are not valid UTF-8 (no ZooKeeper path maps to one) are left alone and not counted');

  if (held.length > 0) {
    // Rounds 2..N over every chunk's remaining differences at once.
    let current = mergePlans(held);
    const foreign = new Set(current.foreign);
    let inSync = current.inSync;
    const ranges = prefixes.map((p) => etcdRangesFor(opts.etcd.prefix, p));
    for (let round = 2; round <= opts.maxRound && differenceCount(current) + current.conflict.length > 0; round++) {
      await pause(opts.roundIntervalMs, ctx.signal);
      current = await confirmPlan(current, { ...confirmDeps(ranges, etcdKeys, heldLists), freshData: true });
      for (const k of current.foreign) foreign.add(k);
      inSync += current.inSync;
      logger.debug({ round, differences: differenceCount(current) }, 'confirmation round');
    }
    await take({ ...current, foreign: [...foreign].sort(), inSync });
  }

  // What this pass read (set before the guard, which may refuse: a refused run still reports it).
  const summary = collector.summary();
  for (const kind of ['missing', 'changed', 'extra', 'foreign', 'conflict'] as const) metrics.differences.set({ kind }, summary.counts[kind]);
  metrics.zkNodes.set(zkNodes);
  metrics.etcdKeys.set(etcdKeys);
  if (overflow) {
    await checkGuard(extras.length, 0, summary.counts.missing);
    return { approvedDeletes: new Set(extras.map((a) => a.key)) };
  }
  metrics.conflicts.inc(summary.counts.conflict); // SPEC §3: left alone, and counted

  let staleRecords = new Map<string, string>();
  let unsettled: UnsettledRecord[] = [];
  let recordedPresent = 0;
  if (ctx.writer && seen) {
    // Records a crash left behind: of keys in neither etcd nor ZooKeeper (stale, pruned), and `pending`
    // ones of keys in both (settled if in sync). The scan also counts our records of keys present in
    // etcd: a lower bound for the deletion guard.
    const pendingInBoth = new Set<string>();
    const records = await clients.ownership.scan((k, v) => {
      if (!synced(k)) return false;
      const sides = seen.sidesOf(k);
      if (!sides.inEtcd) return !sides.inZk;
      recordedPresent++;
      if (!isPendingValue(v) || !sides.inZk) return false;
      pendingInBoth.add(k);
      return true;
    });
    staleRecords = new Map([...records].filter(([k]) => !pendingInBoth.has(k)));
    unsettled = await pendingInSync(
      [...pendingInBoth],
      clients,
      { toPath: (key) => mapper.toPath(key) as string, skipEphemeral: opts.zookeeper.skipEphemeral, concurrency: opts.concurrent, signal: ctx.signal },
    );
  }
  if (ctx.writer) {
    const approved = pass.approvedDeletes;
    const deletes = approved ? extras.filter((a) => approved.has(a.key)) : extras;
    if (approved && deletes.length < extras.length) logger.info({ left: extras.length - deletes.length }, 'keys gone from ZooKeeper since the deletion guard was checked are left for the next run');
    try {
      if (!approved) await checkGuard(deletes.length, recordedPresent, summary.counts.missing);
    } catch (err) {
      // A dry run reports the refusal with the plan it previews (exit 4 all the same); nothing is written anyway.
      if (!(opts.dryRun && err instanceof DeletionGuardError)) throw err;
      refusedByGuard = err;
    }
    if (!refusedByGuard) {
      // Chunk by chunk, so the watcher's events get the write lock between them.
      await forEachPool(heldPuts, CHUNKS_IN_FLIGHT, (p) => write(p));
      deletes.sort(byKey);
      await write({ missing: [], changed: [], extra: deletes, foreign: [], conflict: [], inSync: 0, staleRecords, unsettled });
    }
  }
  const durationSeconds = (performance.now() - started) / 1000;
  metrics.reconcileSeconds.set(durationSeconds);
  return { zkNodes, etcdKeys, summary, applied: ctx.writer ? applied : null, durationSeconds, refusedByGuard };

  /** Throws DeletionGuardError when the deletes exceed --max-delete; the exact count of our keys only when a lower bound would refuse. */
  async function checkGuard(deletes: number, recorded: number, creates: number): Promise<void> {
    const net = opts.guardNetOfCreates ? creates : null;
    const counted = guardedDeletes(deletes, net);
    if (counted === 0 || opts.force) return;
    const lower = Math.max(deletes, recorded);
    const owned = deletionLimit(opts.maxDelete, lower) >= counted ? lower : await countOwned(work, clients, synced, seen, deletes);
    try {
      checkDeletionGuard(deletes, owned, opts.maxDelete, opts.force, net);
    } catch (err) {
      metrics.reconcileSeconds.set((performance.now() - started) / 1000); // a refused run's duration, not 0
      throw err;
    }
  }
}

function addApplied(a: ApplyResult, b: ApplyResult): ApplyResult {
  return {
    put: a.put + b.put,
    delete: a.delete + b.delete,
    skipped: a.skipped + b.skipped,
    skippedKeys: [...a.skippedKeys, ...b.skippedKeys],
    refusedKeys: [...a.refusedKeys, ...b.refusedKeys],
  };
}

async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new AbortedError('aborted between confirmation rounds');
  }
}
