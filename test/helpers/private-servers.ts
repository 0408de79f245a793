import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { spawnClean } from './spawn-clean.js';
import { freePort } from './watcher-process.js';

/** A server of our own (not the shared loopback ones), to stop and restart in fault tests. */
export interface PrivateServer {
  readonly address: string;
  start(): Promise<void>;
  /** SIGKILL: an outage, not a clean shutdown. */
  kill(): Promise<void>;
  cleanup(): Promise<void>;
}

function managed(command: string, args: string[], ready: () => Promise<boolean>, address: string, dir: string): PrivateServer {
  let child: ChildProcess | null = null;
  const server: PrivateServer = {
    address,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return; // already running
      child = spawnClean(command, args, { stdio: 'ignore' });
      for (let i = 0; i < 200; i++) {
        if (await ready().catch(() => false)) return;
        await sleep(100);
      }
      throw new Error(`${command} did not start`);
    },
    async kill() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
      child = null;
    },
    async cleanup() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** True when a Redis on `port` answers PING (with `options` for auth or TLS); never retries. */
export async function redisAnswers(port: number, options: RedisOptions = {}): Promise<boolean> {
  const r = new Redis(port, '127.0.0.1', { ...options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } finally {
    r.disconnect();
  }
}

/** redis-server with an append-only file synced on every write, so a kill loses no record. */
export async function privateRedis(): Promise<PrivateServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-redis-'));
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'];
  return managed('redis-server', args, () => redisAnswers(port), `127.0.0.1:${port}`, dir);
}

/** A single-member etcd with its own data dir and ports. */
export async function privateEtcd(extraArgs: readonly string[] = []): Promise<PrivateServer> {
  const port = await freePort();
  const peer = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-etcd-'));
  const url = `http://127.0.0.1:${port}`;
  const args = [
    '--name', 'private', '--data-dir', join(dir, 'data'), '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `private=http://127.0.0.1:${peer}`, '--unsafe-no-fsync', ...extraArgs,
  ];
  const healthy = async () => (await (await fetch(`${url}/health`)).text()).includes('"health":"true"');
  return managed('etcd', args, healthy, url, dir);
}

function ruok(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('ruok'));
    let reply = '';
    socket.on('data', (d) => (reply += d.toString()));
    socket.on('close', () => resolve(reply === 'imok'));
    socket.on('error', () => resolve(false));
    socket.setTimeout(1000, () => socket.destroy());
  });
}

/** A standalone ZooKeeper 3.8 with its own data dir and port (a JVM: start it only where needed). */
export async function privateZk(opts: { maxSessionTimeoutMs?: number } = {}): Promise<PrivateServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-zk-'));
  const cfg = join(dir, 'zoo.cfg');
  writeFileSync(
    cfg,
    [`tickTime=500`, `minSessionTimeout=1000`, `dataDir=${join(dir, 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1', 'admin.enableServer=false', '4lw.commands.whitelist=*', 'forceSync=no', ...(opts.maxSessionTimeoutMs ? [`maxSessionTimeout=${opts.maxSessionTimeoutMs}`] : [])].join('\n'),
  );
  const args = ['-Xmx256m', '-cp', '/usr/share/java/*:/etc/zookeeper/conf', 'org.apache.zookeeper.server.ZooKeeperServerMain', cfg];
  return managed('java', args, () => ruok(port), `127.0.0.1:${port}`, dir);
}
