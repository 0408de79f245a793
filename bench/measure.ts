/** Runs the zk2etcd CLI as a child process and measures wall time, CPU and peak RSS. */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/cli/zk2etcd.js (the shipped, bundled CLI), relative to dist/bench/. */
export const CLI = path.resolve(here, '../cli/zk2etcd.js');
const RUSAGE_HOOK = path.resolve(here, 'rusage.js');
export const TIME_BIN = '/usr/bin/time';

export interface Report {
  inSync: boolean;
  counts: { zookeeper: number; etcd: number; missing: number; changed: number; extra: number; foreign: number; conflict: number };
  applied: null | { put: number; delete: number; skipped: number };
  durationSeconds: number;
  truncated?: boolean;
}

export interface Measured {
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** Null when not measured separately (in-process baselines). */
  readonly maxRssMb: number | null;
}

export interface CliRun extends Measured {
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly method: 'usr-bin-time' | 'node-resource-usage';
  readonly report: Report | null;
  readonly stdoutHead: string;
  readonly stderrFile: string;
  readonly stderrTail: string;
  /** Log lines (debug/info, not progress) as seconds since the child started: a phase timeline. */
  readonly events: { t: number; msg: string }[];
}

export function haveTimeBinary(): boolean {
  return existsSync(TIME_BIN);
}

/** The child sees no ZK2ETCD_* variables: every setting is an explicit flag (and no Pushgateway push). */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ZK2ETCD_')) env[k] = v;
  return env;
}

function timeline(file: string, startedEpochMs: number): { t: number; msg: string }[] {
  const out: { t: number; msg: string }[] = [];
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{') || out.length >= 50) continue;
    try {
      const rec = JSON.parse(line) as { time?: string; msg?: string };
      if (rec.time && rec.msg && rec.msg !== 'progress') out.push({ t: (Date.parse(rec.time) - startedEpochMs) / 1000, msg: rec.msg });
    } catch {
      /* not a log line */
    }
  }
  return out;
}

function tail(file: string, bytes: number): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.length > bytes ? `...${text.slice(-bytes)}` : text;
  } catch {
    return '';
  }
}

/** Runs `node dist/cli/zk2etcd.js <args>`; stderr (logs) goes to `<logDir>/<name>.stderr.log`. */
export async function runCli(name: string, args: readonly string[], logDir: string, useTime: boolean): Promise<CliRun> {
  const stderrFile = path.join(logDir, `${name}.stderr.log`);
  const usageFile = path.join(logDir, `${name}.usage`);
  rmSync(usageFile, { force: true });
  const env = childEnv();
  let file: string;
  let argv: string[];
  if (useTime) {
    file = TIME_BIN;
    argv = ['-f', '%e %U %S %M', '-o', usageFile, process.execPath, CLI, ...args];
  } else {
    file = process.execPath;
    argv = ['--import', RUSAGE_HOOK, CLI, ...args];
    env.ZK2ETCD_BENCH_RUSAGE_OUT = usageFile;
  }
  const errFd = openSync(stderrFile, 'w');
  const chunks: Buffer[] = [];
  const startedEpochMs = Date.now();
  const t0 = performance.now();
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    const child = spawn(file, argv, { env, stdio: ['ignore', 'pipe', errFd] });
    child.stdout?.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  const wall = (performance.now() - t0) / 1000;
  closeSync(errFd);
  const stdout = Buffer.concat(chunks).toString('utf8');

  let user = NaN;
  let sys = NaN;
  let rssKb = NaN;
  try {
    const usage = readFileSync(usageFile, 'utf8').trim();
    if (useTime) {
      // GNU time prefixes "Command exited with non-zero status N" on failure: the numbers are on the last line.
      const [, u, s, m] = (usage.split('\n').pop() ?? '').split(' ').map(Number);
      user = u ?? NaN;
      sys = s ?? NaN;
      rssKb = m ?? NaN;
    } else {
      const r = JSON.parse(usage) as { userSeconds: number; systemSeconds: number; maxRssKb: number };
      user = r.userSeconds;
      sys = r.systemSeconds;
      rssKb = r.maxRssKb;
    }
  } catch {
    /* left NaN: reported as missing */
  }
  let report: Report | null = null;
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    report = JSON.parse(line) as Report;
  } catch {
    report = null;
  }
  return {
    command: `node ${path.relative(process.cwd(), CLI)} ${args.join(' ')}`,
    exitCode: code,
    signal,
    method: useTime ? 'usr-bin-time' : 'node-resource-usage',
    report,
    stdoutHead: stdout.slice(0, 2000),
    stderrFile,
    stderrTail: tail(stderrFile, 3000),
    events: timeline(stderrFile, startedEpochMs),
    wallSeconds: wall,
    userSeconds: user,
    systemSeconds: sys,
    cpuSeconds: user + sys,
    maxRssMb: rssKb / 1024,
  };
}

/** Measures an in-process step: wall and this process's CPU (peak RSS is not separable, so null). */
export async function measureInProcess<T>(fn: () => Promise<T>): Promise<{ value: T; m: Measured }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    value,
    m: { wallSeconds, userSeconds: cpu.user / 1e6, systemSeconds: cpu.system / 1e6, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMb: null },
  };
}

/** The code under test: commit and the files modified outside bench/ (the build compiles the working tree). */
export function codeVersion(): { commit: string; modified: string[] } {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: path.resolve(here, '../..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
    } catch {
      return '';
    }
  };
  const modified = git('status', '--porcelain').split('\n').map((l) => l.slice(3)).filter((f) => f && !f.startsWith('bench/') && f !== 'scripts/bench.sh');
  return { commit: git('rev-parse', '--short', 'HEAD') || 'unknown', modified };
}

export interface ServerCpu {
  zookeeper: number | null;
  etcd: number | null;
  redis: number | null;
}

/** CPU seconds used so far by the local servers started by scripts/services.sh (null when not readable). */
export function serverCpu(): ServerCpu {
  const dir = process.env.ZK2ETCD_SERVICES_DIR ?? '/tmp/zk2etcd-services';
  const read = (name: string): number | null => {
    try {
      const pid = readFileSync(path.join(dir, `${name}.pid`), 'utf8').trim();
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, USER_HZ = 100 on Linux
    } catch {
      return null;
    }
  };
  return { zookeeper: read('zookeeper'), etcd: read('etcd'), redis: read('redis') };
}

export function serverCpuSince(before: ServerCpu): ServerCpu {
  const now = serverCpu();
  const d = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);
  return { zookeeper: d(now.zookeeper, before.zookeeper), etcd: d(now.etcd, before.etcd), redis: d(now.redis, before.redis) };
}

/**
 * Waits until ZooKeeper and etcd each used under `idleCpu` seconds of CPU in one second (a bulk load
 * leaves ZooKeeper snapshotting and collecting garbage for a while), or `maxMs` passed. Returns the wait.
 */
export async function waitForQuietServers(maxMs = 60_000, idleCpu = 0.1): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const before = serverCpu();
    await new Promise((r) => setTimeout(r, 1000));
    const used = serverCpuSince(before);
    const quiet = (v: number | null) => v === null || v < idleCpu;
    if ((quiet(used.zookeeper) && quiet(used.etcd)) || performance.now() - t0 > maxMs) return performance.now() - t0;
  }
}

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemoryBytes: os.totalmem(),
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    hostname: os.hostname(),
  };
}

/** A loud failure: the command, exit status, report head and log tail. */
export function describeFailure(run: CliRun, why: string): string {
  return [
    `BENCH FAILURE: ${why}`,
    `  command: ${run.command}`,
    `  exit: ${run.exitCode}${run.signal ? ` signal ${run.signal}` : ''}; wall ${run.wallSeconds.toFixed(2)} s`,
    `  stdout: ${run.stdoutHead.slice(0, 1000)}`,
    `  stderr (${run.stderrFile}): ${run.stderrTail}`,
  ].join('\n');
}
