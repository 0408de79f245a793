import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { CLI_BIN, removeZkTree, servers } from './services.js';
import { redisAnswers } from './private-servers.js';
import type { CliResult } from './services.js';
import type { TestPki } from './tls.js';
import { freePort } from './watcher-process.js';

/**
 * Private, secured servers (TLS, client certificates, users and passwords) on free loopback ports,
 * for the security suite. The shared servers of scripts/services.sh are never reconfigured.
 */
export interface SecureServer {
  /** What zk2etcd is given: an etcd URL or a Redis host:port. */
  readonly address: string;
  /** The server's own output, for failure messages. */
  log(): string;
  cleanup(): Promise<void>;
}

async function startManaged(command: string, args: readonly string[], ready: () => Promise<boolean>, address: string, dir: string): Promise<SecureServer> {
  let out = '';
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: SecureServer = {
    address,
    log: () => out,
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (await ready().catch(() => false)) return server;
    await sleep(100);
  }
  await server.cleanup();
  throw new Error(`${command} did not start: ${out.slice(-3000)}`);
}

/** Runs etcdctl against `endpoint`; rejects with its output on failure. */
export function etcdctl(endpoint: string, args: readonly string[], extra: readonly string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('etcdctl', [`--endpoints=${endpoint}`, '--command-timeout=5s', ...extra, ...args], { env: { PATH: process.env.PATH ?? '', ETCDCTL_API: '3' }, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`etcdctl ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

async function etcdArgs(dir: string, clientUrl: string): Promise<string[]> {
  const peer = await freePort();
  return [
    '--name', 'secure', '--data-dir', join(dir, 'data'), '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `secure=http://127.0.0.1:${peer}`, '--unsafe-no-fsync',
  ];
}

export interface TlsEtcd extends SecureServer {
  /** A client presenting the test client certificate. */
  client(): Etcd3;
  /** etcdctl flags for the same certificates. */
  readonly ctlFlags: readonly string[];
}

/** etcd serving https only, requiring a client certificate signed by the test CA. */
export async function tlsEtcd(pki: TestPki): Promise<TlsEtcd> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-tls-etcd-'));
  const url = `https://127.0.0.1:${port}`;
  const args = [
    ...(await etcdArgs(dir, url)),
    '--cert-file', pki.serverCert, '--key-file', pki.serverKey, '--trusted-ca-file', pki.caCert, '--client-cert-auth',
  ];
  const healthy = () =>
    new Promise<boolean>((resolve) => {
      const req = request(`${url}/health`, { servername: 'localhost', ca: pki.read(pki.caCert), cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey), timeout: 1000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body.includes('"health":"true"')));
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  const server = await startManaged('etcd', args, healthy, url, dir);
  return {
    ...server,
    ctlFlags: [`--cacert=${pki.caCert}`, `--cert=${pki.clientCert}`, `--key=${pki.clientKey}`],
    client: () =>
      new Etcd3({
        hosts: url,
        credentials: { rootCertificate: pki.read(pki.caCert), certChain: pki.read(pki.clientCert), privateKey: pki.read(pki.clientKey) },
      }),
  };
}

export interface AuthEtcd extends SecureServer {
  /** A client logged in as root (sees and changes everything). */
  rootClient(): Etcd3;
  readonly rootFlags: readonly string[];
}

/**
 * etcd with authentication enabled: `root` (password `rootPassword`) and `user` (password `password`)
 * holding a role with readwrite on the key `prefix` and everything under it (a string prefix range).
 */
export async function authEtcd(opts: { user: string; password: string; prefix: string; rootPassword: string }): Promise<AuthEtcd> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-auth-etcd-'));
  const url = `http://127.0.0.1:${port}`;
  const healthy = async () => (await (await fetch(`${url}/health`)).text()).includes('"health":"true"');
  const server = await startManaged('etcd', await etcdArgs(dir, url), healthy, url, dir);
  try {
    await etcdctl(url, ['user', 'add', `root:${opts.rootPassword}`]);
    await etcdctl(url, ['role', 'add', 'zk2etcd-mirror']);
    await etcdctl(url, ['role', 'grant-permission', 'zk2etcd-mirror', '--prefix=true', 'readwrite', opts.prefix]);
    await etcdctl(url, ['user', 'add', `${opts.user}:${opts.password}`]);
    await etcdctl(url, ['user', 'grant-role', opts.user, 'zk2etcd-mirror']);
    await etcdctl(url, ['auth', 'enable']);
  } catch (err) {
    await server.cleanup();
    throw err;
  }
  return {
    ...server,
    rootFlags: [`--user=root:${opts.rootPassword}`],
    rootClient: () => new Etcd3({ hosts: url, auth: { username: 'root', password: opts.rootPassword } }),
  };
}

export interface RedisUser {
  readonly name: string;
  readonly password: string;
  /** ACL rules after `on >password`, e.g. `~zk2etcd:* +@all`. */
  readonly rules: string;
}

export interface AclRedis extends SecureServer {
  readonly port: number;
  /** A client logged in as the admin user. */
  admin(): Redis;
}

/**
 * redis-server whose default user is disabled; `users` plus an `admin` user (password `adminPassword`)
 * exist. With `tls`, it listens on TLS only (server certificate from the test CA, client
 * certificates not required).
 */
export async function aclRedis(opts: { users: readonly RedisUser[]; adminPassword: string; tls?: TestPki }): Promise<AclRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-acl-redis-'));
  const args = ['--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--user', 'default', 'off'];
  args.push('--user', 'admin', 'on', `>${opts.adminPassword}`, '~*', '&*', '+@all');
  for (const u of opts.users) args.push('--user', u.name, 'on', `>${u.password}`, ...u.rules.split(/\s+/).filter(Boolean));
  if (opts.tls) {
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.serverCert, '--tls-key-file', opts.tls.serverKey);
    args.push('--tls-ca-cert-file', opts.tls.caCert, '--tls-auth-clients', 'no');
  } else {
    args.push('--port', String(port));
  }
  const tls = opts.tls;
  const connOpts = (): RedisOptions => ({
    username: 'admin',
    password: opts.adminPassword,
    maxRetriesPerRequest: 1,
    ...(tls ? { tls: { ca: tls.read(tls.caCert) } } : {}),
  });
  const ping = () => redisAnswers(port, connOpts());
  const server = await startManaged('redis-server', args, ping, `127.0.0.1:${port}`, dir);
  return { ...server, port, admin: () => new Redis(port, '127.0.0.1', connOpts()) };
}

const requireCjs = createRequire(import.meta.url);
interface RawZk {
  on(ev: string, cb: () => void): void;
  init(c: object): void;
  add_auth(scheme: string, auth: string, cb: (rc: number, error: string) => void): void;
  create(path: string, data: Buffer | null, flags: number): Promise<string>;
  set_acl(path: string, version: number, acl: { perm: number; scheme: string; auth: string }[]): Promise<unknown>;
  get_children(path: string, watch: boolean): Promise<string[]>;
  delete_(path: string, version: number): Promise<unknown>;
  close(): void;
}

/** A test-side ZooKeeper session (shared server) authenticated with digest `user:password`. */
export interface AuthedZk {
  create(path: string, data?: Buffer): Promise<void>;
  /** Restricts `path` to digest `user:password` (all permissions), nobody else. */
  restrict(path: string, userPassword: string): Promise<void>;
  removeTree(path: string): Promise<void>;
  close(): void;
}

/** The digest ACL id ZooKeeper expects: `user:base64(sha1("user:password"))`. */
export function digestId(userPassword: string): string {
  const user = userPassword.slice(0, userPassword.indexOf(':'));
  return `${user}:${createHash('sha1').update(userPassword).digest('base64')}`;
}

export async function authedZk(userPassword: string): Promise<AuthedZk> {
  const ZooKeeper = requireCjs('zookeeper') as { new (c: object): RawZk; constants: Record<string, number> };
  const zk = new ZooKeeper({ connect: servers.zk, timeout: 20000, debug_level: 1, host_order_deterministic: false });
  await new Promise<void>((resolve) => {
    let done = false;
    zk.on('connect', () => {
      if (!done) {
        done = true;
        resolve();
      }
    });
    zk.init({});
  });
  await new Promise<void>((resolve, reject) => zk.add_auth('digest', userPassword, (rc, e) => (rc === 0 ? resolve() : reject(new Error(`add_auth: ${rc} ${e}`)))));
  const ALL = ZooKeeper.constants.ZOO_PERM_ALL as number;
  const api: AuthedZk = {
    async create(path, data = Buffer.alloc(0)) {
      await zk.create(path, data, 0);
    },
    async restrict(path, up) {
      // The addon reads the permission from `perm` (not `perms`) when it builds an ACL vector.
      await zk.set_acl(path, -1, [{ perm: ALL, scheme: 'digest', auth: digestId(up) }]);
    },
    removeTree: (path) => removeZkTree(zk, path),
    close: () => zk.close(),
  };
  return api;
}

export interface BoundedResult extends CliResult {
  /** The CLI was still running at the deadline and was killed. */
  timedOut: boolean;
  ms: number;
}


/**
 * Like runCli (same environment defaults: the shared servers), but killed at `timeoutMs` so a hung
 * connection fails the test instead of hanging the suite. `env` values of `undefined` unset a default.
 */
export function runCliBounded(args: readonly string[], env: Record<string, string | undefined> = {}, timeoutMs = 30_000): Promise<BoundedResult> {
  const merged: Record<string, string> = {};
  const all: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '',
    ZK2ETCD_ZOOKEEPER_SERVERS: servers.zk,
    ZK2ETCD_ETCD_SERVERS: servers.etcd,
    ZK2ETCD_REDIS_SERVER: servers.redis,
    ZK2ETCD_LOG_LEVEL: 'warn',
    ...env,
  };
  for (const [k, v] of Object.entries(all)) if (v !== undefined) merged[k] = v;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
}

/** Writes a secret file (mode 0600) in `dir` and returns its path. */
export function secretFile(dir: string, name: string, value: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
}

/** A one-line description of a CLI result for assertion messages. */
export function describeRun(r: CliResult & { timedOut?: boolean; ms?: number }): string {
  return `exit ${r.code}${r.timedOut ? ' (killed at the deadline: hung)' : ''}${r.ms !== undefined ? ` after ${r.ms} ms` : ''}; stdout: ${r.stdout.slice(0, 2000)}; stderr: ${r.stderr.slice(0, 3000)}`;
}

/** A TCP listener that accepts connections and never answers: a hung server (TLS handshake never completes). */
export async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  if (!addr || typeof addr !== 'object') throw new Error('no port');
  return {
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}
