import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { assertMirrored, cleanupRoot, freshName, runCli, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { privateEtcd, redisAnswers } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { spawnClean } from '../helpers/spawn-clean.js';
import { zkProxy } from '../helpers/zk-proxy.js';
import { eventually, freePort, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

const RETRY_LOG = 'Redis unreachable: not ready, retrying';

/** A throwaway redis-server without persistence on a fixed loopback port, started and killed at will. */
function volatileRedis(port: number, password?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-ready-redis-'));
  let child: ChildProcess | null = null;
  const api = {
    address: `127.0.0.1:${port}`,
    dir,
    async start() {
      const auth = password ? ['--requirepass', password] : [];
      child = spawnClean('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', ...auth], { stdio: 'ignore' });
      await eventually(async () => assert.ok(await redisAnswers(port, { password }).catch(() => false), 'redis-server does not answer yet'), 20_000);
    },
    async kill() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
    async cleanup() {
      await api.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return api;
}

async function status(w: WatcherProcess, path: '/readyz' | '/healthz'): Promise<number> {
  return (await fetch(`${w.url}${path}`)).status;
}

async function expectReadyz(w: WatcherProcess, code: number, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => assert.equal(await status(w, '/readyz'), code, `/readyz; output:\n${w.output().slice(-1500)}`), timeoutMs, 250);
}

/** SIGTERM, then SIGKILL if the watcher has not exited within 30 s (a test failure must not leak it). */
async function stopBounded(w: WatcherProcess | undefined): Promise<void> {
  if (!w) return;
  const timer = setTimeout(() => w.child.kill('SIGKILL'), 30_000);
  await w.stop();
  clearTimeout(timer);
}

/** /readyz follows Redis (every connection), etcd (a periodic probe) and the leader's ZooKeeper session. */
describe('watcher readiness: Redis down at start-up, Redis and etcd outages', () => {
  const name = freshName('ready');
  const root = `/${name}`;
  const etcd = testEtcd();
  const sharedRedis = testRedis();
  let zk: TestZk;
  let redis: ReturnType<typeof volatileRedis>;
  let watcher: WatcherProcess | undefined;
  const others: WatcherProcess[] = [];
  let etcdServer: PrivateServer | undefined;
  let lockedRedis: ReturnType<typeof volatileRedis> | undefined;
  let privateEtcdClient: Etcd3 | undefined;

  before(async () => {
    zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.from('r')]];
    for (let i = 0; i < 20; i++) nodes.push([`${root}/n${i}`, Buffer.from(`v${i}`)]);
    await zk.createAll(nodes);
    redis = volatileRedis(await freePort());
  });

  after(async () => {
    await Promise.all([watcher, ...others].map(stopBounded));
    await redis?.cleanup();
    await lockedRedis?.cleanup();
    privateEtcdClient?.close();
    await etcdServer?.cleanup();
    await sharedRedis.del(`zk2etcd:{${name}-etcd}:owned`, `zk2etcd:{${name}-zk}:owned`);
    await cleanupRoot({ zk, etcd, redis: sharedRedis, root, instance: name });
  });

  const startMain = async () => {
    watcher = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`], { ZK2ETCD_REDIS_SERVER: redis.address });
    return watcher;
  };

  test('Redis down at start-up: alive, not ready, retrying; once Redis starts it leads, is ready and mirrors the tree', { timeout: 180_000 }, async () => {
    const w = await startMain();
    await waitForLog(w, RETRY_LOG, 2);
    const retry = w.output().split('\n').find((l) => l.includes(`"msg":"${RETRY_LOG}"`)) ?? '';
    assert.match(retry, /"level":"warn"/);
    assert.match(retry, /"retryInMs":\d+/);
    assert.equal(w.child.exitCode, null, 'the watcher must not exit while Redis is down');
    assert.equal(await status(w, '/healthz'), 200);
    assert.equal(await status(w, '/readyz'), 503);

    await redis.start();
    await expectReadyz(w, 200);
    await waitForLog(w, 'full reconcile done');
    await eventually(() => assertMirrored(etcd, root), 60_000);
  });

  test('Redis killed under a running watcher: /readyz 503; restarted: 200 and changes are mirrored again', { timeout: 180_000 }, async () => {
    if (!watcher) {
      // Run alone (--test-name-pattern): a watcher with its Redis up.
      await redis.start();
      await waitForLog(await startMain(), 'full reconcile done');
    }
    const w = watcher as WatcherProcess;
    await expectReadyz(w, 200);
    await redis.kill();
    await expectReadyz(w, 503);
    assert.equal(await status(w, '/healthz'), 200);
    await redis.start();
    await expectReadyz(w, 200);
    await zk.create(`${root}/after-redis-restart`, Buffer.from('ok'));
    await eventually(async () => assert.equal(await etcd.get(`${root}/after-redis-restart`).string(), 'ok'), 60_000);
  });

  test('SIGTERM while waiting for Redis: exit 0', { timeout: 120_000 }, async () => {
    const port = await freePort(); // nothing listens there
    const w = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}-term`], { ZK2ETCD_REDIS_SERVER: `127.0.0.1:${port}` });
    others.push(w);
    await waitForLog(w, RETRY_LOG, 2);
    assert.equal(await status(w, '/readyz'), 503);
    const exit = await w.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, w.output().slice(-1500));
  });

  test('Redis refusing the credentials is a configuration error: exit 1 at once, naming the flags, never the password', { timeout: 120_000 }, async () => {
    lockedRedis = volatileRedis(await freePort(), `right-${name}`);
    await lockedRedis.start();
    const wrong = `wrong-${name}`;
    const pwFile = join(lockedRedis.dir, 'password');
    writeFileSync(pwFile, `${wrong}\n`);
    const args = ['sync', `--http-addr=127.0.0.1:${await freePort()}`, `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}-auth`, `--redis-password-file=${pwFile}`];
    for (const extra of [[], ['--redis-username=default']]) {
      const r = await runCli([...args, ...extra], { ZK2ETCD_REDIS_SERVER: lockedRedis.address, ZK2ETCD_LOG_LEVEL: 'info' });
      const all = `${r.stdout}${r.stderr}`;
      assert.equal(r.code, 1, all);
      assert.match(r.stderr, /ownership store.*WRONGPASS/);
      assert.match(r.stderr, /--redis-password-file/);
      assert.ok(!all.includes(RETRY_LOG), 'a refused password is not retried');
      assert.ok(!all.includes(wrong), 'the password is shown');
    }
    // No password at all against a server that requires one: NOAUTH, also at once.
    const none = await runCli(args.filter((a) => !a.startsWith('--redis-password-file')), { ZK2ETCD_REDIS_SERVER: lockedRedis.address });
    assert.equal(none.code, 1, none.stdout + none.stderr);
    assert.match(none.stderr, /NOAUTH/);
  });

  test('etcd killed under a running watcher: /readyz 503; restarted: 200 again', { timeout: 180_000 }, async () => {
    etcdServer = await privateEtcd();
    await etcdServer.start();
    privateEtcdClient = new Etcd3({ hosts: etcdServer.address });
    const w = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}-etcd`], { ZK2ETCD_ETCD_SERVERS: etcdServer.address });
    others.push(w);
    await waitForLog(w, 'full reconcile done');
    await expectReadyz(w, 200);
    await etcdServer.kill();
    await expectReadyz(w, 503);
    assert.equal(await status(w, '/healthz'), 200);
    await sleep(1000);
    assert.equal(w.child.exitCode, null);
    await etcdServer.start();
    await expectReadyz(w, 200);
    await eventually(() => assertMirrored(privateEtcdClient as Etcd3, root), 60_000);
  });
  test('a leader whose ZooKeeper cannot be reached is not ready; once it can, ready', { timeout: 120_000 }, async () => {
    const port = await freePort(); // nothing listens here: ZooKeeper unreachable
    const w = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}-zk`], { ZK2ETCD_ZOOKEEPER_SERVERS: `127.0.0.1:${port}` });
    others.push(w);
    await waitForLog(w, 'became leader');
    await waitForLog(w, 'cannot open a ZooKeeper session; retrying');
    assert.equal(await status(w, '/readyz'), 503, w.output().slice(-1500));
    assert.equal(await status(w, '/healthz'), 200);
    await stopBounded(w);
    const ok = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}-zk`]);
    others.push(ok);
    await waitForLog(ok, 'full reconcile done');
    await expectReadyz(ok, 200);
  });

  for (const fastPath of ['auto', 'off']) {
    test(`the leader's ZooKeeper connection held (--zookeeper-fast-path=${fastPath}): /readyz 503 while it is down, 200 once it is back, changes mirrored`, { timeout: 120_000 }, async () => {
      const proxy = await zkProxy();
      try {
        const w = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}-zkdrop-${fastPath}`, `--zookeeper-fast-path=${fastPath}`, '--zookeeper-session-timeout=6s'], {
          ZK2ETCD_ZOOKEEPER_SERVERS: proxy.address,
        });
        others.push(w);
        await waitForLog(w, 'full reconcile done');
        await expectReadyz(w, 200);
        proxy.hold(true); // a partition: the client's pings go unanswered, it drops the connection and retries
        await expectReadyz(w, 503, 30_000);
        assert.equal(await status(w, '/healthz'), 200);
        await zk.set(`${root}/n1`, Buffer.from(`while held ${fastPath}`));
        proxy.hold(false); // back within the session timeout window or not: either way ready again
        await expectReadyz(w, 200, 60_000);
        await eventually(async () => assert.equal(await etcd.get(`${root}/n1`).string(), `while held ${fastPath}`), 60_000);
        await stopBounded(w);
      } finally {
        await proxy.close();
      }
    });

    test(`SIGTERM while the first ZooKeeper session is being opened (--zookeeper-fast-path=${fastPath}): exit 0, not after the shutdown limit`, { timeout: 120_000 }, async () => {
      const port = await freePort(); // nothing listens here: the first attempt waits up to the 30 s session timeout
      const w = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}-zkterm`, `--zookeeper-fast-path=${fastPath}`], {
        ZK2ETCD_ZOOKEEPER_SERVERS: `127.0.0.1:${port}`,
      });
      others.push(w);
      await waitForLog(w, 'became leader');
      await sleep(500);
      const exit = await w.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, w.output().slice(-1500));
      assert.match(w.output(), /"msg":"stopped"/);
    });
  }
});
