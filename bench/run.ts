/**
 * zk2etcd benchmark: loads a Dubbo-shaped tree into ZooKeeper under a fresh root, then measures
 *   (a) copy into an empty etcd, (b) diff when in sync, (c) fix after 1% drift, and (d) the CronJob's
 *   `reconcile` when in sync (a fix: the diff plus the ownership-record repair, then the metrics push),
 * against two baselines on the same tree: our ZooKeeper walk alone, and the same etcd writes alone.
 * Prints a markdown table, writes bench/results/<date>-<size>.json, and cleans everything up.
 *
 *   node dist/bench/run.js --size 10k|70k|300k|1m [--runs N] [--keep] [--rusage auto|time|node] [--concurrent 50]
 *     [--fast-path auto|off]   (off: the scenarios and the walk baseline use the addon client)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { applyDrift, countEtcd, etcdPutBaseline, zkWalkBaseline } from './baselines.js';
import type { Drift } from './baselines.js';
import { deleteEtcdPrefix, ownershipHash, serversFromEnv } from './env.js';
import {
  generateTree, leafNameStats, loadTree, nodeCount, removeTree, shapeFor,
} from './generate.js';
import type { CliRun, Measured } from './measure.js';
import { codeVersion, describeFailure, haveTimeBinary, machineInfo, measureInProcess, runCli, serverCpu, serverCpuSince } from './measure.js';
import type { Sample, Step, StepKey } from './report.js';
import { combine, markdown, record, summarize } from './report.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '70k' },
    runs: { type: 'string', default: '1' },
    connections: { type: 'string', default: '4' },
    'in-flight': { type: 'string', default: '500' },
    concurrent: { type: 'string', default: '50' },
    rusage: { type: 'string', default: 'auto' },
    keep: { type: 'boolean', default: false },
    'fast-path': { type: 'string', default: 'auto' },
  },
});
const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);
class BenchFailure extends Error {}

const servers = serversFromEnv();
/** Step (d) pushes its metrics here when set (scripts/services.sh starts one); the cleanup deletes that group. */
const pushgateway = process.env.ZK2ETCD_PUSHGATEWAY_URL?.replace(/\/$/, '');
const id = randomBytes(4).toString('hex');
const root = `/bench-${id}`;
const instance = `bench-${id}`;
const baselinePrefix = `/zk2etcd-bench-baseline-${id}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), `zk2etcd-bench-${id}-`));
const useTime = values.rusage === 'time' || (values.rusage === 'auto' && haveTimeBinary());
const zkOpts = { servers: servers.zk, connections: Number(values.connections), inFlight: Number(values['in-flight']) };
const concurrency = Number(values.concurrent);
const runs = Math.max(1, Number(values.runs) || 1);
const fastPath = values['fast-path'] === 'off' ? 'off' : 'auto';

const shape = shapeFor(values.size);
const levels = generateTree(root, shape);
const total = levels.reduce((s, l) => s + l.length, 0);
if (total !== nodeCount(shape)) throw new Error(`generator produced ${total} nodes, expected ${nodeCount(shape)}`);
const leafNames = leafNameStats(levels);
const loadBefore = os.loadavg();
const code = codeVersion();
log(`size ${values.size}: ${total} znodes = 1 root + ${shape.interfaces} interfaces x (1 + 4 categories + ${shape.providers} providers + ${shape.consumers} consumers); leaf names ${leafNames.min}-${leafNames.max} bytes (avg ${leafNames.avg})`);
log(`root ${root}, instance ${instance}, ${runs} round(s), logs in ${logDir}, CPU/RSS via ${useTime ? '/usr/bin/time' : 'process.resourceUsage (preload hook)'}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

let failure: string | null = null;
let lastDrift: Drift | null = null;

const etcd = new Etcd3({ hosts: servers.etcd.split(',') });
const redis = new Redis(servers.redis.includes('://') ? servers.redis : `redis://${servers.redis}`, { maxRetriesPerRequest: 2 });
const common = [
  `--zookeeper-servers=${servers.zk}`, `--etcd-servers=${servers.etcd}`, `--redis-server=${servers.redis}`,
  `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${instance}`, '--output=json',
  `--concurrent=${concurrency}`, '--log-level=debug', `--zookeeper-fast-path=${fastPath}`,
];

function expect(cond: boolean, run: CliRun | null, why: string): void {
  if (cond) return;
  throw new BenchFailure(run ? describeFailure(run, why) : `BENCH FAILURE: ${why}`);
}
const pick = (m: Measured): Measured => ({
  wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, userSeconds: m.userSeconds, systemSeconds: m.systemSeconds, maxRssMb: m.maxRssMb,
});

const NAMES: Record<StepKey, string> = {
  load: `load ZooKeeper (generator, ${zkOpts.connections}x${zkOpts.inFlight} creates in flight)`,
  walkAddon: `ZooKeeper walk alone, addon client (one request per node, concurrency ${concurrency})`,
  walk: fastPath === 'off' ? `baseline: ZooKeeper walk alone (addon client, concurrency ${concurrency})` : 'baseline: ZooKeeper walk alone (protocol client, multiRead batches)',
  puts: 'baseline: etcd writes alone (128-op txns, 16 in flight)',
  copy: '(a) copy into empty etcd (fix)',
  diff: '(b) diff when in sync',
  fix: '(c) fix after 1% drift',
  reconcile: '(d) reconcile when in sync (the CronJob: a fix, record repair, metrics push)',
};
const samples = new Map<StepKey, Sample[]>();
const add = (key: StepKey, sample: Sample): void => void samples.set(key, [...(samples.get(key) ?? []), sample]);

/** Times an in-process step; `check` validates the result and returns the notes. */
async function inProcess<T>(key: StepKey, round: number, fn: () => Promise<T>, check: (v: T) => Promise<string>): Promise<void> {
  log(`${NAMES[key]} (round ${round}) ...`);
  const cpu0 = serverCpu();
  const { value, m } = await measureInProcess(fn);
  const serverCpuSeconds = serverCpuSince(cpu0);
  add(key, { ...m, serverCpuSeconds, notes: await check(value) });
}

/** Runs and times one CLI scenario; `check` throws on a wrong result and returns the notes. */
async function scenario(key: StepKey, round: number, args: string[], check: (r: CliRun) => string): Promise<void> {
  log(`${NAMES[key]} (round ${round}): zk2etcd ${args.join(' ')} ...`);
  const cpu0 = serverCpu();
  const run = await runCli(`${key}-${round}`, [...args, ...common], logDir, useTime);
  const serverCpuSeconds = serverCpuSince(cpu0);
  log(`  exit ${run.exitCode}, ${run.wallSeconds.toFixed(2)} s, CPU ${run.cpuSeconds.toFixed(2)} s, peak RSS ${run.maxRssMb?.toFixed(0)} MB`);
  let notes = 'FAILED';
  try {
    notes = check(run);
  } finally {
    add(key, { ...pick(run), notes, serverCpuSeconds, run: record(run) });
  }
}

/**
 * One round: both baselines, then (a), (b), (d) (on the same in-sync tree), (c). Rounds interleave so that baselines and scenarios see
 * the same machine conditions; each step reports its median over the rounds.
 */
async function round(i: number): Promise<void> {
  if (fastPath !== 'off') {
    await inProcess('walkAddon', i, () => zkWalkBaseline(servers.zk, root, concurrency, 'addon'), async (n) => {
      expect(n === total, null, `addon walk read ${n} nodes, expected ${total}`);
      return `${n} nodes read`;
    });
  }
  await inProcess('walk', i, () => zkWalkBaseline(servers.zk, root, concurrency, fastPath === 'off' ? 'addon' : 'fast'), async (n) => {
    expect(n === total, null, `baseline walk read ${n} nodes, expected ${total}`);
    return `${n} nodes read`;
  });

  await deleteEtcdPrefix(etcd, baselinePrefix);
  await inProcess('puts', i, () => etcdPutBaseline(etcd, baselinePrefix, levels, 128, 16), async () => {
    const written = await countEtcd(etcd, baselinePrefix);
    expect(written === total, null, `baseline etcd puts left ${written} keys, expected ${total}`);
    return `${written} keys put`;
  });
  await deleteEtcdPrefix(etcd, baselinePrefix);

  await deleteEtcdPrefix(etcd, root);
  await redis.del(ownershipHash(instance));
  await scenario('copy', i, ['fix'], (r) => {
    expect(r.exitCode === 0 && r.report !== null, r, 'copy (fix into an empty etcd) did not exit 0 with a JSON report');
    expect(r.report?.applied?.put === total, r, `copy put ${r.report?.applied?.put} keys, expected ${total}`);
    return `applied ${JSON.stringify(r.report?.applied)}`;
  });

  await scenario('diff', i, ['diff'], (r) => {
    expect(r.exitCode === 0 && r.report?.inSync === true, r, 'diff after the copy is not in sync');
    expect(r.report?.counts.zookeeper === total, r, `diff counted ${r.report?.counts.zookeeper} znodes, generated ${total}`);
    expect(r.report?.counts.etcd === total, r, `diff counted ${r.report?.counts.etcd} etcd keys, expected ${total}`);
    return `inSync ${r.report?.inSync}, counts.zookeeper ${r.report?.counts.zookeeper}, counts.etcd ${r.report?.counts.etcd}`;
  });

  // What every CronJob run costs on an unchanged registry: the diff plus the ownership-record repair.
  const push = pushgateway ? [`--pushgateway-url=${pushgateway}`] : [];
  await scenario('reconcile', i, ['reconcile', ...push], (r) => {
    expect(r.exitCode === 0 && r.report?.inSync === true, r, 'reconcile after the copy is not in sync');
    expect(r.report?.counts.zookeeper === total && r.report?.counts.etcd === total, r, `reconcile counted ${r.report?.counts.zookeeper} znodes and ${r.report?.counts.etcd} etcd keys, expected ${total}`);
    const a = r.report?.applied;
    expect(a?.put === 0 && a?.delete === 0 && a?.skipped === 0, r, `reconcile in sync applied ${JSON.stringify(a)}`);
    return `inSync ${r.report?.inSync}; applied ${JSON.stringify(a)}${push.length > 0 ? '; metrics pushed' : '; no Pushgateway'}`;
  });

  const d = await applyDrift(etcd, redis, instance, levels, 0.01);
  lastDrift = d;
  log(`drift: ${d.missing.length} missing (deleted), ${d.changed.length} changed (other values), ${d.extra.length} extra (recorded pending)`);
  await scenario('fix', i, ['fix'], (r) => {
    expect(r.exitCode === 0 && r.report !== null, r, 'fix after drift did not exit 0 with a JSON report');
    const c = r.report?.counts;
    expect(c?.missing === d.missing.length && c?.changed === d.changed.length && c?.extra === d.extra.length, r,
      `fix saw missing/changed/extra ${c?.missing}/${c?.changed}/${c?.extra}, drifted ${d.missing.length}/${d.changed.length}/${d.extra.length}`);
    const a = r.report?.applied;
    expect(a?.put === d.missing.length + d.changed.length && a?.delete === d.extra.length && a?.skipped === 0, r, `fix applied ${JSON.stringify(a)}`);
    return `drift m/c/e ${c?.missing}/${c?.changed}/${c?.extra}; applied ${JSON.stringify(a)}`;
  });
}

async function scenarios(): Promise<void> {
  expect((await countEtcd(etcd, root)) === 0, null, `etcd already has keys under ${root}`);
  await inProcess('load', 1, () => loadTree(levels, zkOpts), async () => `${total} znodes created`);
  for (let i = 1; i <= runs; i++) await round(i);

  const after = await runCli('diff-after-fix', ['diff', ...common], logDir, useTime);
  expect(after.exitCode === 0 && after.report?.inSync === true && after.report.counts.etcd === total, after, 'diff after the drift fix is not in sync');
  log(`verified: in sync after the drift fix (${after.wallSeconds.toFixed(2)} s)`);
}

async function cleanup(): Promise<void> {
  if (values.keep) {
    log(`--keep: left ${root} in ZooKeeper and etcd and ${ownershipHash(instance)}; remove with: node dist/bench/generate.js delete --root ${root} --instance ${instance}`);
    return;
  }
  const t0 = performance.now();
  const deleted = await removeTree(root, zkOpts, levels);
  const keys = (await deleteEtcdPrefix(etcd, root)) + (await deleteEtcdPrefix(etcd, baselinePrefix));
  await redis.del(ownershipHash(instance));
  if (pushgateway) {
    // The Pushgateway keeps a group until it is deleted.
    const group = `${pushgateway}/metrics/job/zk2etcd/instance/${instance}/command/reconcile`;
    try {
      const res = await fetch(group, { method: 'DELETE', signal: AbortSignal.timeout(5000) });
      if (!res.ok) log(`cleanup: deleting the Pushgateway group ${group} answered ${res.status}`);
    } catch (err) {
      log(`cleanup: could not delete the Pushgateway group ${group}: ${String(err)}`);
    }
  }
  log(`cleanup: ${deleted} znodes, ${keys} etcd keys and ${ownershipHash(instance)} deleted in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
}

try {
  await scenarios();
} catch (err) {
  failure = err instanceof BenchFailure ? err.message : `BENCH FAILURE: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  log(failure);
} finally {
  try {
    await cleanup();
  } catch (err) {
    log(`cleanup failed: ${String(err)} (remove with: node dist/bench/generate.js delete --root ${root} --instance ${instance})`);
  }
  etcd.close();
  redis.disconnect();
}

const steps: Step[] = (Object.keys(NAMES) as StepKey[]).flatMap((k) => {
  const list = samples.get(k);
  return list ? [combine(k, NAMES[k], list)] : [];
});
const summary = summarize(steps, os.cpus().length, values.size);
const machine = machineInfo();
const title = `zk2etcd benchmark, size ${values.size}: ${total} znodes (${shape.interfaces} interfaces x ${shape.providers} providers + ${shape.consumers} consumers), leaf names ${leafNames.min}-${leafNames.max} B; ${String(machine.cpuModel)} x${String(machine.cpuCount)}, ${String(machine.totalMemoryGiB)} GiB, Node ${process.version}; zk2etcd ${code.commit}${code.modified.length > 0 ? ` + ${code.modified.length} uncommitted files (listed in the JSON)` : ''}`;
const loadAfter = os.loadavg();
const extraLines = [
  `- load average (1/5/15 min) at start ${loadBefore.map((l) => l.toFixed(2)).join('/')}, at end ${loadAfter.map((l) => l.toFixed(2)).join('/')} on ${String(machine.cpuCount)} CPUs; wall well above CPU means waiting on the servers or on other processes`,
  '- server CPU = CPU the local ZooKeeper / etcd / Redis processes used during the step, including work for any other client of theirs',
];
console.log(markdown(steps, summary, { title, nodes: total, runs, failure, extraLines }));

const resultsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `${new Date().toISOString().slice(0, 10)}-${values.size}.json`);
const drift = lastDrift as Drift | null;
const result = {
  date: new Date().toISOString(),
  size: values.size,
  nodes: total,
  shape,
  leafNameBytes: leafNames,
  runsPerStep: runs,
  code,
  root,
  instance,
  measurement: useTime ? '/usr/bin/time -f "%e %U %S %M" (wall from the parent)' : 'process.resourceUsage() in a preload hook',
  machine: { ...machine, loadAverageBefore: loadBefore, loadAverageAfter: loadAfter },
  drift: drift ? { missing: drift.missing.length, changed: drift.changed.length, extra: drift.extra.length } : null,
  steps,
  summary,
  failure,
  logDir,
};
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
log(`results written to ${path.relative(process.cwd(), file)}`);
process.exitCode = failure ? 1 : 0;
