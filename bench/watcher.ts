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
import { deleteEtcdPrefix, deleteOwnership, logStamped as log, serversFromEnv } from './env.js';
import { burst, fullGc, r2, steady, Tracker, type LatencyResult } from './latency.js';
import { lagBuckets, lagShares, memSamples, metrics, type MemSample } from './watcher-metrics.js';
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
