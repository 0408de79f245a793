/**
 * Watcher benchmark: start-up time, memory per mirrored node, and ZooKeeper-change → etcd-commit latency
 * of `zk2etcd sync` on a Dubbo-shaped tree.
 *
 *   node dist/bench/watcher.js --size 70k [--steady-rate 500] [--steady-seconds 10] [--burst 5000] [--out NAME.json]
 *
 * Needs the servers from the environment (source /tmp/zk2etcd-services/env). Prints a markdown table and
 * writes bench/results/<date>-watcher-<size>.json; removes the tree, the etcd keys and the Redis hashes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { deleteEtcdPrefix, deleteOwnership, serversFromEnv } from './env.js';
import { codeVersion, machineInfo, serverCpu, serverCpuSince, waitForQuietServers } from './measure.js';
import { generateTree, leafNameStats, loadTree, nodeCount, removeTree, shapeFor } from './generate.js';
import type { Levels } from './generate.js';
import { startWatcher, waitForLog } from '../test/helpers/watcher-process.js';
import type { WatcherProcess } from '../test/helpers/watcher-process.js';
import { testZk } from '../test/helpers/services.js';
import type { TestZk } from '../test/helpers/services.js';
import { prng } from '../test/helpers/prng.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '70k' },
    'steady-rate': { type: 'string', default: '500' },
    'steady-seconds': { type: 'string', default: '10' },
    burst: { type: 'string', default: '5000' },
    'startup-timeout': { type: 'string', default: '900' },
    /** Results file name under bench/results (default <date>-watcher-<size>.json). */
    out: { type: 'string' },
  },
});
const servers = serversFromEnv();
const loadOpts = { servers: servers.zk, connections: 4, inFlight: 500 };
const log = (msg: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

// ---------------------------------------------------------------- metrics

interface MemSample {
  rssBytes: number;
  heapUsedBytes: number;
  mirroredNodes: number;
}

async function metrics(w: WatcherProcess): Promise<MemSample> {
  const text = await (await fetch(`${w.url}/metrics`)).text();
  const get = (name: string): number => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)`, 'm').exec(text);
    if (!m) throw new Error(`metric ${name} not found`);
    return Number(m[1]);
  };
  return {
    rssBytes: get('process_resident_memory_bytes'),
    heapUsedBytes: get('nodejs_heap_size_used_bytes'),
    mirroredNodes: get('zk2etcd_mirrored_nodes'),
  };
}

/** The watcher's own lag histogram (`zk2etcd_sync_lag_seconds`, its event seen → etcd commit): le -> count. */
async function lagBuckets(w: WatcherProcess): Promise<Map<string, number>> {
  const text = await (await fetch(`${w.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^zk2etcd_sync_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.eE+-]+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

/** Share of the changes between two histogram reads whose watcher-side lag was within each bound. */
function lagShares(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  const shares: Record<string, number> = { changes: total };
  for (const le of ['0.01', '0.025', '0.05', '0.1']) {
    shares[`≤${Number(le) * 1000} ms`] = total > 0 ? r2(((after.get(le) ?? 0) - (before.get(le) ?? 0)) / total) : NaN;
  }
  return shares;
}

/** Two samples: after 5 s idle, and 5 s later. */
async function memSamples(w: WatcherProcess): Promise<MemSample[]> {
  await sleep(5000);
  const a = await metrics(w);
  await sleep(5000);
  const b = await metrics(w);
  return [a, b];
}

function watcherArgs(root: string, instance: string): string[] {
  return [
    `--zookeeper-prefix=${root}`,
    '--zookeeper-exclude-prefix=',
    `--instance=${instance}`,
    '--leader-elect=none',
    '--fullsync-interval=0',
    '--log-level=info', // 'full reconcile done' is an info line
  ];
}

async function startAndWait(root: string, instance: string, timeoutMs: number): Promise<{ w: WatcherProcess; startupMs: number }> {
  const t0 = performance.now();
  const w = await startWatcher(watcherArgs(root, instance));
  const deadline = Date.now() + timeoutMs;
  // Poll finely so the start-up time is accurate to ~20 ms.
  for (;;) {
    if (w.output().includes('"msg":"full reconcile done"')) break;
    if (w.child.exitCode !== null) throw new Error(`watcher exited (${w.child.exitCode}): ${w.output().slice(-2000)}`);
    if (Date.now() > deadline) await waitForLog(w, 'full reconcile done', 1, 1); // throws with the output
    await sleep(20);
  }
  return { w, startupMs: performance.now() - t0 };
}

// ---------------------------------------------------------------- latency

interface Change {
  kind: 'set' | 'create' | 'delete';
  key: string;
  value: string; // '' for deletes
  issuedAt: number;
  arrivedAt?: number;
  error?: string;
}

interface LatencyResult {
  issued: number;
  arrived: number;
  missing: number;
  failedToIssue: number;
  issueSeconds: number;
  achievedRate: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  byKind: Record<string, { n: number; p50: number; p99: number; max: number }>;
  missingSample: string[];
  /** Per second of issuing: p50/p99/max (ms) of the changes issued in that second. */
  timeline?: { second: number; n: number; p50: number; p99: number; max: number }[];
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
const r2 = (x: number): number => Math.round(x * 100) / 100;

class Tracker {
  private readonly byValue = new Map<string, Change>();
  private readonly deletes = new Map<string, Change>();
  private pending = 0;
  private waiters: (() => void)[] = [];

  onPut(key: string, value: string): void {
    const c = this.byValue.get(value);
    if (c && c.key === key && c.arrivedAt === undefined) {
      c.arrivedAt = performance.now();
      this.done();
    }
  }
  onDelete(key: string): void {
    const c = this.deletes.get(key);
    if (c && c.arrivedAt === undefined) {
      c.arrivedAt = performance.now();
      this.done();
    }
  }
  track(c: Change): void {
    if (c.kind === 'delete') this.deletes.set(c.key, c);
    else this.byValue.set(c.value, c);
    this.pending++;
  }
  untrack(c: Change): void {
    if (c.arrivedAt === undefined) this.done();
  }
  private done(): void {
    this.pending--;
    if (this.pending <= 0) for (const w of this.waiters.splice(0)) w();
  }
  async drained(timeoutMs: number): Promise<void> {
    if (this.pending <= 0) return;
    await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(timeoutMs)]);
  }
}

function summarizeLatency(changes: Change[], issueSeconds: number): LatencyResult {
  const issuedOk = changes.filter((c) => c.error === undefined);
  const arrived = issuedOk.filter((c) => c.arrivedAt !== undefined);
  const lat = (cs: Change[]): number[] => cs.map((c) => (c.arrivedAt as number) - c.issuedAt).sort((a, b) => a - b);
  const all = lat(arrived);
  const byKind: LatencyResult['byKind'] = {};
  for (const kind of ['set', 'create', 'delete'] as const) {
    const l = lat(arrived.filter((c) => c.kind === kind));
    if (l.length > 0) byKind[kind] = { n: l.length, p50: r2(pct(l, 50)), p99: r2(pct(l, 99)), max: r2(l[l.length - 1] as number) };
  }
  const missing = issuedOk.filter((c) => c.arrivedAt === undefined);
  return {
    issued: changes.length,
    arrived: arrived.length,
    missing: missing.length,
    failedToIssue: changes.length - issuedOk.length,
    issueSeconds: r2(issueSeconds),
    achievedRate: Math.round(changes.length / Math.max(issueSeconds, 1e-9)),
    p50: r2(pct(all, 50)),
    p95: r2(pct(all, 95)),
    p99: r2(pct(all, 99)),
    max: r2(all[all.length - 1] ?? NaN),
    mean: r2(all.reduce((s, x) => s + x, 0) / Math.max(1, all.length)),
    byKind,
    missingSample: [
      ...missing.slice(0, 5).map((c) => `${c.kind} ${c.key.slice(0, 100)}`),
      ...changes.filter((c) => c.error).slice(0, 5).map((c) => `issue failed: ${c.kind} ${c.key.slice(0, 80)}: ${c.error}`),
    ],
  };
}

let seq = 0;
const nextValue = (): string => `benchw-${++seq}-${Date.now()}`;

function issue(zk: TestZk, tracker: Tracker, c: Change, inFlight: { n: number }): Promise<void> {
  tracker.track(c);
  inFlight.n++;
  c.issuedAt = performance.now();
  const op = c.kind === 'set' ? zk.set(c.key, Buffer.from(c.value)) : c.kind === 'create' ? zk.create(c.key, Buffer.from(c.value)) : zk.remove(c.key);
  return op.then(
    () => {
      inFlight.n--;
    },
    (err: unknown) => {
      inFlight.n--;
      c.error = String(err);
      tracker.untrack(c);
    },
  );
}

/**
 * This process holds the generated tree (~550 MB at 300k) while it measures. A full collection of that
 * heap, which V8 otherwise runs when allocation slows (its memory reducer), paused it for 30-80 ms
 * inside the measured window, and its lag counts the pause. Collect before measuring (needs --expose-gc,
 * which scripts/bench.sh passes).
 */
function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
  else log('no --expose-gc: a full collection of this process may land inside the measurement');
}

/** `rate` sets/s on distinct random leaves for `seconds`, paced by a 5 ms timer, at most `maxInFlight` outstanding. */
async function steady(zk: TestZk, tracker: Tracker, leaves: string[], rate: number, seconds: number, maxInFlight = 200): Promise<LatencyResult> {
  const total = Math.round(rate * seconds);
  const changes: Change[] = [];
  const inFlight = { n: 0 };
  const ops: Promise<void>[] = [];
  let skippedForInFlight = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (changes.length < due) {
        if (inFlight.n >= maxInFlight) {
          skippedForInFlight++;
          break;
        }
        const key = leaves.pop();
        if (!key) throw new Error('ran out of leaves');
        const c: Change = { kind: 'set', key, value: nextValue(), issuedAt: 0 };
        changes.push(c);
        ops.push(issue(zk, tracker, c, inFlight));
      }
      if (changes.length >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  const issueSeconds = (performance.now() - t0) / 1000;
  await Promise.all(ops);
  await tracker.drained(60_000);
  if (skippedForInFlight > 0) log(`steady: the in-flight bound (${maxInFlight}) held back issuing ${skippedForInFlight} times`);
  const timeline: NonNullable<LatencyResult['timeline']> = [];
  for (let sec = 0; sec < Math.ceil(issueSeconds); sec++) {
    const l = changes
      .filter((c) => c.arrivedAt !== undefined && Math.floor((c.issuedAt - t0) / 1000) === sec)
      .map((c) => (c.arrivedAt as number) - c.issuedAt)
      .sort((a, b) => a - b);
    if (l.length > 0) timeline.push({ second: sec, n: l.length, p50: r2(pct(l, 50)), p99: r2(pct(l, 99)), max: r2(l[l.length - 1] as number) });
  }
  return { ...summarizeLatency(changes, issueSeconds), timeline };
}

/** `n` changes as fast as possible: 80% sets, 10% provider creates, 10% provider deletes, all on distinct keys. */
async function burst(zk: TestZk, tracker: Tracker, leaves: string[], providerLeaves: string[], providerDirs: string[], n: number, maxInFlight = 1000): Promise<LatencyResult> {
  const r = prng(7);
  const changes: Change[] = [];
  for (let i = 0; i < n; i++) {
    const x = i % 10;
    if (x === 3) {
      const dir = providerDirs[Math.floor(r() * providerDirs.length)] as string;
      changes.push({ kind: 'create', key: `${dir}/${encodeURIComponent(`dubbo://10.255.0.${i % 250}:20880/bench?i=${i}&r=${randomBytes(4).toString('hex')}`)}`, value: nextValue(), issuedAt: 0 });
    } else if (x === 7 && providerLeaves.length > 0) {
      changes.push({ kind: 'delete', key: providerLeaves.pop() as string, value: '', issuedAt: 0 });
    } else {
      const key = leaves.pop();
      if (!key) throw new Error('ran out of leaves');
      changes.push({ kind: 'set', key, value: nextValue(), issuedAt: 0 });
    }
  }
  const inFlight = { n: 0 };
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: maxInFlight }, async () => {
      while (next < changes.length) await issue(zk, tracker, changes[next++] as Change, inFlight);
    }),
  );
  const issueSeconds = (performance.now() - t0) / 1000;
  await tracker.drained(120_000);
  return summarizeLatency(changes, issueSeconds);
}

// ---------------------------------------------------------------- main

function shuffle<T>(a: T[], r: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MB`;

async function main(): Promise<void> {
  const size = values.size;
  const shape = shapeFor(size);
  const tag = randomBytes(4).toString('hex');
  const root = `/benchw-${tag}`;
  const baseRoot = `/benchw-${tag}-base`;
  const instance = `benchw-${tag}`;
  const baseInstance = `benchw-${tag}-base`;
  const etcd = new Etcd3({ hosts: servers.etcd.split(',') });
  // Opened again after the (synchronous, event-loop-blocking) tree generation, so the session cannot expire.
  let zk: TestZk = await testZk(servers.zk);
  const watchers: WatcherProcess[] = [];
  let levels: Levels | undefined;
  try {
    // -- baseline: a watcher on a 1-node root
    log(`baseline: watcher on 1-node ${baseRoot}`);
    await zk.create(baseRoot);
    const base = await startAndWait(baseRoot, baseInstance, 60_000);
    watchers.push(base.w);
    const baseMem = await memSamples(base.w);
    log(`baseline: start-up ${Math.round(base.startupMs)} ms, rss ${mb(baseMem[1]!.rssBytes)}, heap ${mb(baseMem[1]!.heapUsedBytes)}, mirrored ${baseMem[1]!.mirroredNodes}`);
    await base.w.stop();
    watchers.pop();

    // -- load
    zk.close();
    levels = generateTree(root, shape);
    const total = levels.reduce((s, l) => s + l.length, 0);
    const names = leafNameStats(levels);
    let pathBytes = 0;
    for (const l of levels) for (const n of l) pathBytes += Buffer.byteLength(n.path);
    log(`loading ${total} znodes (expected ${nodeCount(shape)}) under ${root}`);
    const tl = performance.now();
    await loadTree(levels, loadOpts);
    const loadSeconds = (performance.now() - tl) / 1000;
    log(`loaded in ${loadSeconds.toFixed(1)} s`);
    zk = await testZk(servers.zk);
    // A watcher starts against a settled ZooKeeper, not one still writing the snapshot of a bulk load.
    const settleMs = await waitForQuietServers();
    log(`servers quiet after ${(settleMs / 1000).toFixed(1)} s`);

    // -- start-up
    const cpuBefore = serverCpu();
    const main = await startAndWait(root, instance, Number(values['startup-timeout']) * 1000);
    const startupServerCpu = serverCpuSince(cpuBefore);
    watchers.push(main.w);
    log(`start-up (spawn → full reconcile done): ${(main.startupMs / 1000).toFixed(2)} s; server CPU ${JSON.stringify(startupServerCpu)}`);
    const mem = await memSamples(main.w);
    const perNode = (s: MemSample, b: MemSample): { rssPerNode: number; heapPerNode: number } => {
      const nodes = s.mirroredNodes - b.mirroredNodes;
      return { rssPerNode: Math.round((s.rssBytes - b.rssBytes) / nodes), heapPerNode: Math.round((s.heapUsedBytes - b.heapUsedBytes) / nodes) };
    };
    const per = mem.map((s, i) => perNode(s, baseMem[i] as MemSample));
    log(`memory: ${JSON.stringify(mem)}; per node beyond baseline ${JSON.stringify(per)}`);

    // -- latency
    const r = prng(99);
    const allLeaves = (levels[3] ?? []).map((n) => n.path);
    const providerLeaves = shuffle(allLeaves.filter((p) => p.includes('/providers/')), r);
    const deletable = providerLeaves.slice(0, Math.ceil(Number(values.burst) / 10));
    const deletableSet = new Set(deletable);
    const setLeaves = shuffle(allLeaves.filter((p) => !deletableSet.has(p)), r);
    const providerDirs = (levels[2] ?? []).map((n) => n.path).filter((p) => p.endsWith('/providers'));
    const tracker = new Tracker();
    const watch = await etcd.watch().prefix(`${root}/`).create();
    watch.on('put', (kv) => tracker.onPut(kv.key.toString(), kv.value.toString()));
    watch.on('delete', (kv) => tracker.onDelete(kv.key.toString()));
    await sleep(500);

    const rate = Number(values['steady-rate']);
    fullGc();
    log(`steady: ${rate}/s sets for ${values['steady-seconds']} s`);
    const lagBefore = await lagBuckets(main.w);
    const steadyRes = await steady(zk, tracker, setLeaves, rate, Number(values['steady-seconds']));
    const watcherLag = lagShares(lagBefore, await lagBuckets(main.w));
    log(`steady: ${JSON.stringify(steadyRes)}`);
    log(`steady, watcher-side lag shares: ${JSON.stringify(watcherLag)}`);
    await sleep(2000);
    fullGc();
    log(`burst: ${values.burst} changes`);
    const burstRes = await burst(zk, tracker, setLeaves, deletable, providerDirs, Number(values.burst));
    log(`burst: ${JSON.stringify(burstRes)}`);
    await watch.cancel();
    const afterLatency = await metrics(main.w);
    // Right after start-up the heap still holds the start-up reconcile's garbage (no major GC has run
    // while idle); after the latency runs it has been collected: the steady cost of following the tree.
    const perAfterLatency = perNode(afterLatency, baseMem[1] as MemSample);

    // -- report
    const rows: [string, string][] = [
      ['tree', `${total} znodes (${shape.interfaces} interfaces), leaf names avg ${names.avg} B, paths ${mb(pathBytes)}`],
      ['load into ZooKeeper', `${loadSeconds.toFixed(1)} s`],
      ['start-up (spawn → full reconcile done)', `${(main.startupMs / 1000).toFixed(2)} s (baseline 1-node ${(base.startupMs / 1000).toFixed(2)} s)`],
      ['mirrored nodes', `${mem[1]!.mirroredNodes}`],
      ['RSS (5 s / 10 s idle)', `${mb(mem[0]!.rssBytes)} / ${mb(mem[1]!.rssBytes)} (baseline ${mb(baseMem[0]!.rssBytes)} / ${mb(baseMem[1]!.rssBytes)})`],
      ['heap used (5 s / 10 s idle)', `${mb(mem[0]!.heapUsedBytes)} / ${mb(mem[1]!.heapUsedBytes)} (baseline ${mb(baseMem[0]!.heapUsedBytes)} / ${mb(baseMem[1]!.heapUsedBytes)})`],
      ['RSS per node beyond baseline', `${per[0]!.rssPerNode} / ${per[1]!.rssPerNode} B`],
      ['heap per node beyond baseline', `${per[0]!.heapPerNode} / ${per[1]!.heapPerNode} B (avg path ${Math.round(pathBytes / total)} B)`],
      ['RSS / heap after latency runs', `${mb(afterLatency.rssBytes)} / ${mb(afterLatency.heapUsedBytes)}`],
      ['RSS / heap per node beyond baseline, after latency runs', `${perAfterLatency.rssPerNode} / ${perAfterLatency.heapPerNode} B`],
    ];
    const latRow = (name: string, l: LatencyResult): string =>
      `| ${name} | ${l.issued} | ${l.achievedRate}/s | ${l.arrived} | ${l.missing + l.failedToIssue} | ${l.p50} | ${l.p95} | ${l.p99} | ${l.max} |`;
    const md = [
      `## Watcher benchmark, ${size} (${new Date().toISOString().slice(0, 10)})`,
      '',
      '| measure | value |',
      '|---|---|',
      ...rows.map(([k, v]) => `| ${k} | ${v} |`),
      '',
      'ZooKeeper change issued → etcd watch event (ms)',
      '',
      '| run | changes | issue rate | arrived | missing | p50 | p95 | p99 | max |',
      '|---|---|---|---|---|---|---|---|---|',
      latRow(`steady ${rate}/s × ${values['steady-seconds']} s (sets)`, steadyRes),
      latRow(`burst ${values.burst} (80% set, 10% create, 10% delete)`, burstRes),
      '',
      `steady, the watcher's own lag (its event seen → etcd commit), share of changes within: ${Object.entries(watcherLag).filter(([k]) => k !== 'changes').map(([k, v]) => `${k} ${v}`).join(', ')}`,
      '',
      `steady per second (p99 ms): ${(steadyRes.timeline ?? []).map((t) => `${t.second}s ${Math.round(t.p99)}`).join(', ')}`,
      '',
      `burst by kind: ${Object.entries(burstRes.byKind).map(([k, v]) => `${k} n=${v.n} p50=${v.p50} p99=${v.p99} max=${v.max}`).join('; ')}`,
    ].join('\n');
    console.log(md);

    const resultsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
    mkdirSync(resultsDir, { recursive: true });
    const file = path.join(resultsDir, values.out ?? `${new Date().toISOString().slice(0, 10)}-watcher-${size}.json`);
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          size,
          code: codeVersion(),
          machine: machineInfo(),
          loadAverageAtEnd: os.loadavg(),
          shape,
          znodes: total,
          leafNameBytes: names,
          pathBytes,
          loadSeconds: r2(loadSeconds),
          startupSeconds: r2(main.startupMs / 1000),
          startupServerCpuSeconds: startupServerCpu,
          settleSecondsBeforeStartup: r2(settleMs / 1000),
          baseline: { startupSeconds: r2(base.startupMs / 1000), memory: baseMem },
          memory: mem,
          perNodeBeyondBaseline: per,
          afterLatency,
          perNodeAfterLatency: perAfterLatency,
          steady: { rate, seconds: Number(values['steady-seconds']), ...steadyRes, watcherLagShares: watcherLag },
          burst: burstRes,
          node: process.version,
        },
        null,
        2,
      )}\n`,
    );
    log(`results written to ${path.relative(process.cwd(), file)}`);
  } finally {
    log('cleanup');
    for (const w of watchers) await w.stop().catch(() => undefined);
    if (levels) {
      // creates of the burst live under the providers dirs: let removeTree discover everything
      await removeTree(root, loadOpts).catch((err: unknown) => log(`removeTree: ${String(err)}`));
    }
    await zk.remove(baseRoot).catch(() => undefined);
    zk.close();
    const keys = (await deleteEtcdPrefix(etcd, root)) + (await deleteEtcdPrefix(etcd, baseRoot));
    etcd.close();
    await deleteOwnership(servers.redis, instance);
    await deleteOwnership(servers.redis, baseInstance);
    log(`removed ${root}, ${baseRoot}, ${keys} etcd keys, Redis hashes of ${instance} and ${baseInstance}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
