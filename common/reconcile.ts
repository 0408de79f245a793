import { setTimeout as sleep } from 'node:timers/promises';
import type { PlanWriter, ApplyResult } from './apply/writer.js';
import type { Config } from './config/types.js';
import type { EtcdStore } from './etcd/store.js';
import { AbortedError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { OwnershipStore } from './ownership/store.js';
import { etcdRangesFor, isSynced, keyMapper } from './paths.js';
import { checkDeletionGuard, deletionLimit } from './plan/guard.js';
import type { Plan } from './plan/plan.js';
import { differenceCount, plan } from './plan/plan.js';
import { confirmPlan } from './confirm.js';
import type { Progress } from './progress.js';
import { noProgress } from './progress.js';
import type { ZkReader } from './zk/reader.js';
import { walkTree } from './zk/walk.js';

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
}

export type ReconcileOptions = Pick<Config, 'zookeeper' | 'etcd' | 'concurrent' | 'maxRound' | 'roundIntervalMs' | 'maxDelete' | 'force'>;

export interface ReconcileResult {
  readonly zkNodes: number;
  readonly etcdKeys: number;
  readonly plan: Plan;
  readonly applied: ApplyResult | null;
  readonly durationSeconds: number;
}

/**
 * One full reconcile (SPEC §4): etcd snapshot first, then the ZooKeeper walk, a pure plan, confirmation
 * rounds over just the planned keys, the deletion guard, and (with a writer) the conditional apply.
 */
export async function reconcile(opts: ReconcileOptions, clients: ReconcileClients, ctx: ReconcileContext): Promise<ReconcileResult> {
  const started = performance.now();
  const { metrics, logger } = ctx;
  const progress = ctx.progress ?? noProgress;
  const mapper = keyMapper(opts.etcd.prefix);
  const { prefixes, excludes } = opts.zookeeper;
  const synced = (key: string) => {
    const path = mapper.toPath(key);
    return path !== null && isSynced(path, prefixes, excludes);
  };

  // etcd first: a key created during the walk then shows up as missing, never as extra.
  const ranges = prefixes.map((p) => etcdRangesFor(opts.etcd.prefix, p));
  const snap = await clients.etcd.snapshot(ranges, (n) => progress.update('reading etcd', n));
  for (const key of snap.entries.keys()) if (!synced(key)) snap.entries.delete(key);
  logger.debug({ keys: snap.entries.size, revision: snap.revision, undecodable: snap.undecodable }, 'etcd snapshot read');

  const tree = await walkTree(clients.zk, {
    prefixes,
    excludes,
    skipEphemeral: opts.zookeeper.skipEphemeral,
    allowEmptySource: opts.zookeeper.allowEmptySource,
    concurrency: opts.concurrent,
    // Reuse the snapshot's key strings: at 10^5 keys of ~1 KB each, a second copy is real memory.
    keyOf: (path) => {
      const key = mapper.toKey(path);
      return snap.entries.get(key)?.key ?? key;
    },
    signal: ctx.signal,
    onProgress: (n) => progress.update('walking ZooKeeper', n),
  });
  progress.done();
  logger.debug({ nodes: tree.size }, 'zookeeper walked');
  metrics.zkNodes.set(tree.size);
  metrics.etcdKeys.set(snap.entries.size);

  const candidates = [...snap.entries.keys()].filter((k) => !tree.has(k));
  // A fix also repairs records a crash left behind: those of keys in neither etcd nor ZooKeeper (stale)
  // and `pending` ones of keys in both (unsettled); only these are kept from the scan (the full list is
  // 10^5 strings of ~1 KB). The scan also counts our records of keys present in etcd: a lower bound for
  // the deletion guard.
  let recordedPresent = 0;
  const records = ctx.writer
    ? await clients.ownership.scan((k, v) => {
        const inEtcd = snap.entries.has(k);
        if (inEtcd) recordedPresent++;
        return inEtcd ? v === 'pending' && tree.has(k) : synced(k) && !tree.has(k);
      })
    : undefined;
  let current = plan({ desired: tree, current: snap.entries, ownership: await clients.ownership.lookup(candidates), records });
  logger.debug({ differences: differenceCount(current) }, 'planned');
  const { staleRecords, unsettled } = current;
  const foreign = new Set(current.foreign);
  let inSync = current.inSync;

  for (let round = 1; round <= opts.maxRound && differenceCount(current) + current.conflict.length > 0; round++) {
    if (round > 1) await pause(opts.roundIntervalMs, ctx.signal);
    current = await confirmPlan(current, {
      ...clients,
      concurrency: opts.concurrent,
      skipEphemeral: opts.zookeeper.skipEphemeral,
      roots: prefixes,
      toPath: (key) => mapper.toPath(key) as string,
      etcdRanges: ranges,
      etcdKeys: snap.entries.size,
    });
    for (const k of current.foreign) foreign.add(k);
    inSync += current.inSync; // planned keys that resolved themselves
    logger.debug({ round, differences: differenceCount(current) }, 'confirmation round');
  }
  const confirmed: Plan = { ...current, foreign: [...foreign].sort(), inSync, staleRecords, unsettled };
  for (const kind of ['missing', 'changed', 'extra', 'foreign', 'conflict'] as const) metrics.differences.set({ kind }, confirmed[kind].length);

  let applied: ApplyResult | null = null;
  if (ctx.writer) {
    const deletes = confirmed.extra.length;
    if (deletes > 0 && !opts.force) {
      // The exact count (a lookup of every mirrored key) only when the lower bound would refuse.
      const lower = Math.max(deletes, recordedPresent);
      const owned =
        deletionLimit(opts.maxDelete, lower) >= deletes ? lower : await countOwned([...snap.entries.keys()].filter((k) => tree.has(k)), clients.ownership, deletes);
      checkDeletionGuard(deletes, owned, opts.maxDelete, opts.force);
    }
    applied = await ctx.writer.write(confirmed, ctx.signal);
  }
  const durationSeconds = (performance.now() - started) / 1000;
  metrics.reconcileSeconds.set(durationSeconds);
  return { zkNodes: tree.size, etcdKeys: snap.entries.size, plan: confirmed, applied, durationSeconds };
}

/**
 * Keys under the prefixes that are ours (the base of --max-delete percentages): the extras plus mirrored keys
 * with a record. A per-key lookup, not the scan: zk2etcd 1.x records (--legacy-ownership) count too.
 */
async function countOwned(mirrored: readonly string[], ownership: OwnershipStore, extras: number): Promise<number> {
  return extras + (await ownership.lookup(mirrored)).size;
}

async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new AbortedError('aborted between confirmation rounds');
  }
}
