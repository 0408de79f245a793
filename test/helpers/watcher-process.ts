import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from 'node:net';
import { CLI_BIN, servers } from './services.js';
import { spawnClean } from './spawn-clean.js';


/**
 * A port nothing listens on now, for a server a test starts. Drawn at random below Linux's ephemeral range
 * (32768 and up), where the kernel never puts the local end of an outgoing connection: a port from
 * `listen(0)` is ephemeral, and one of the thousands of connections the tests open could take it between
 * this check and the server's bind (it happened in CI).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 20_000);
    if (await bindable(port)) return port;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export interface WatcherProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything the process logged so far (JSON lines). */
  output(): string;
  /** Resolves with the exit code (and signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The process could not bind its HTTP port: another process took it between `freePort()` and the bind. */
const PORT_TAKEN = 'the address is already in use';

/**
 * Starts `zk2etcd sync` as a real child process and waits until its HTTP server answers.
 * `freePort()` only finds a port that was free a moment ago; tests run in parallel, so another test's
 * server could bind it first. That start is retried on a new port, never any other failure.
 */
export async function startWatcher(args: readonly string[], env: Record<string, string> = {}): Promise<WatcherProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(await freePort(), args, env);
    } catch (err) {
      if (!(err instanceof EarlyExit) || !err.output.includes(PORT_TAKEN) || attempt === 5) throw err;
    }
  }
}

class EarlyExit extends Error {
  constructor(
    code: number | null,
    readonly output: string,
  ) {
    super(`watcher exited early (${code}): ${output}`);
  }
}

async function startOnce(port: number, args: readonly string[], env: Record<string, string>): Promise<WatcherProcess> {
  let out = '';
  const child = spawnClean(process.execPath, [CLI_BIN, 'sync', `--http-addr=127.0.0.1:${port}`, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      ZK2ETCD_ZOOKEEPER_SERVERS: servers.zk,
      ZK2ETCD_ETCD_SERVERS: servers.etcd,
      ZK2ETCD_REDIS_SERVER: servers.redis,
      ZK2ETCD_LOG_LEVEL: 'info',
      ZK2ETCD_FULLSYNC_INTERVAL: '0', // tests opt in with the flag (flag > env)
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) {
      await exited; // the output is complete once the process is gone
      throw new EarlyExit(child.exitCode, out);
    }
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return {
    child,
    url,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Polls `check` until it stops throwing, or rethrows its last error after `timeoutMs`. */
export async function eventually(check: () => Promise<void>, timeoutMs = 20_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(everyMs);
    }
  }
}

/** Waits until the watcher logged `msg` at least `times` times. */
export async function waitForLog(w: WatcherProcess, msg: string, times = 1, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => {
    const n = w.output().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;
    if (n < times) throw new Error(`"${msg}" logged ${n} times, waiting for ${times}; output:\n${w.output().slice(-2000)}`);
  }, timeoutMs);
}
