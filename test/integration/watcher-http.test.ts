import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freshName, runCli, testEtcd, testRedis, testZk, cleanupRoot } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

/** Every replica's HTTP surface (SPEC §8) and the `zk2etcd log` subcommand. */
describe('watcher HTTP endpoints', () => {
  const name = freshName('http');
  const root = `/${name}`;
  const token = `tok-${name}`;
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'zk2etcd-token-')), 'token');
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  let watcher: WatcherProcess;

  before(async () => {
    writeFileSync(tokenFile, `${token}\n`);
    zk = await testZk();
    await zk.createAll([[root, Buffer.from('r')]]);
    watcher = await startWatcher([`--zookeeper-prefix=${root}`, `--instance=${name}`, `--admin-token-file=${tokenFile}`]);
    await waitForLog(watcher, 'full reconcile done');
  });

  after(async () => {
    await watcher?.stop();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test('GET /metrics exposes the zk2etcd metrics; /healthz and /readyz answer 200', async () => {
    const metrics = await (await fetch(`${watcher.url}/metrics`)).text();
    for (const m of ['zk2etcd_etcd_op_total', 'zk2etcd_zk_op_total', 'zk2etcd_leader 1', 'zk2etcd_sync_lag_seconds_bucket', 'zk2etcd_fixed_total', 'process_resident_memory_bytes']) {
      assert.ok(metrics.includes(m), `missing ${m}`);
    }
    assert.equal((await fetch(`${watcher.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${watcher.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${watcher.url}/nope`)).status, 404);
  });

  test('POST /log refuses requests without the right token', async () => {
    const post = (headers: Record<string, string>) => fetch(`${watcher.url}/log`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: 'level=debug' });
    assert.equal((await post({})).status, 401);
    assert.equal((await post({ authorization: 'Bearer wrong' })).status, 401);
    const bad = await fetch(`${watcher.url}/log`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: 'level=verbose' });
    assert.equal(bad.status, 400);
    assert.equal((await post({ authorization: `Bearer ${token}` })).status, 200);
  });

  test('POST /log: the Bearer scheme in any case, levels in any case (fatal means error), a body over 4 KiB is 413', async () => {
    const post = (headers: Record<string, string>, body: string) => fetch(`${watcher.url}/log`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    const lower = await post({ authorization: `bearer ${token}` }, 'level=INFO');
    assert.equal(lower.status, 200);
    assert.equal(await lower.text(), 'log level set to info\n');
    const fatal = await post({ authorization: `Bearer ${token}` }, 'level=fatal');
    assert.equal(await fatal.text(), 'log level set to error\n');
    assert.equal((await post({ authorization: `Bearer ${token}` }, `level=info&pad=${'x'.repeat(5000)}`)).status, 413);
    assert.equal((await post({ authorization: `Bearer ${token}` }, 'level=info')).status, 200);
  });

  test('zk2etcd log changes the level of the running watcher', async () => {
    const refused = await runCli(['log', '--level', 'warn', '--addr', watcher.url]);
    assert.equal(refused.code, 1);
    const r = await runCli(['log', '--level', 'warn', '--addr', watcher.url], { ZK2ETCD_ADMIN_TOKEN_FILE: tokenFile });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /log level set to warn/);
    await waitForLog(watcher, 'log level changed', 2);
    // zk2etcd 1.x's spelling of --addr.
    const legacy = await runCli(['log', '--level=info', `--zk2etcd-addr=${watcher.url}`], { ZK2ETCD_ADMIN_TOKEN_FILE: tokenFile });
    assert.equal(legacy.code, 0, legacy.stderr);
    assert.match(legacy.stdout, /log level set to info/);
    const both = await runCli(['log', '--level=info', `--addr=${watcher.url}`, `--zk2etcd-addr=${watcher.url}`]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--addr and --zk2etcd-addr \(its 1.x name\): give one/);
    const usage = await runCli(['log', '--level', 'loud']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^zk2etcd log: --level: must be one of debug, info, warn, error .*\(got "loud"\)/);
  });

  test("zk2etcd log reads the watcher's config file: its token and its --http-addr (a wildcard host is this machine)", async () => {
    const port = new URL(watcher.url).port;
    const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-logcfg-'));
    const config = join(dir, 'watcher.yaml');
    writeFileSync(config, `admin-token-file: ${tokenFile}\nhttp-addr: ":${port}"\n`);
    const byFlag = await runCli(['log', '--level=warn', `--config=${config}`]);
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.match(byFlag.stdout, /log level set to warn/);
    const byEnv = await runCli(['log', '--level=info'], { ZK2ETCD_CONFIG: config });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    assert.match(byEnv.stdout, /log level set to info/);
    // The environment's --http-addr, as the watcher's own pod has it.
    const byHttpAddr = await runCli(['log', '--level=info'], { ZK2ETCD_HTTP_ADDR: `127.0.0.1:${port}`, ZK2ETCD_ADMIN_TOKEN_FILE: tokenFile });
    assert.equal(byHttpAddr.code, 0, byHttpAddr.stderr);
  });

  test('zk2etcd log: an address with credentials or another scheme is a usage error, credentials not echoed', async () => {
    const creds = await runCli(['log', '--level=info', '--addr=http://admin:Pa55word@127.0.0.1:8080']);
    assert.equal(creds.code, 2);
    assert.equal(creds.stderr, 'zk2etcd log: --addr: must not carry credentials: use --admin-token-file (got "http://***@127.0.0.1:8080")\n');
    const bare = await runCli(['log', '--level=info', '--addr=admin:Pa55word@127.0.0.1:8080']);
    assert.equal(bare.code, 2);
    assert.doesNotMatch(bare.stderr, /admin|Pa55word/);
    assert.match(bare.stderr, /\(got "\*\*\*@127\.0\.0\.1:8080"\)\n$/);
    const ftp = await runCli(['log', '--level=info', '--addr=ftp://127.0.0.1:8080']);
    assert.equal(ftp.code, 2);
    assert.match(ftp.stderr, /^zk2etcd log: --addr: must be the watcher's http\(s\) URL such as http:\/\/127.0.0.1:8080 \(got "ftp:\/\/127.0.0.1:8080"\)\n$/);
  });

  test('zk2etcd log: --help; an error answer names the HTTP status; an unreachable watcher names the reason', async () => {
    const help = await runCli(['log', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: zk2etcd log --level L/);
    assert.match(help.stdout, /--admin-token-file path/);
    const notFound = createServer((_req, res) => {
      res.statusCode = 404;
      res.end();
    }).listen(0, '127.0.0.1');
    await once(notFound, 'listening');
    const { port } = notFound.address() as AddressInfo;
    try {
      const r = await runCli(['log', '--level=debug', `--addr=http://127.0.0.1:${port}`]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `zk2etcd log: http://127.0.0.1:${port} answered HTTP 404 Not Found\n`);
    } finally {
      notFound.close();
    }
    const down = await runCli(['log', '--level=debug', `--addr=http://127.0.0.1:${port}`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^zk2etcd log: cannot reach http:\/\/127.0.0.1:\d+: ECONNREFUSED\n$/);
    const stray = await runCli(['log', '--level=debug', 'extra']);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /unexpected argument at position 2/);
  });

  test('zk2etcd log --admin-token authenticates; the flag wins over ZK2ETCD_ADMIN_TOKEN(_FILE)', async () => {
    const changes = (level: string) => watcher.output().split('\n').filter((l) => l.includes('"msg":"log level changed"') && l.includes(`"newLevel":"${level}"`)).length;
    const wrongFile = join(dirname(tokenFile), 'wrong-token');
    writeFileSync(wrongFile, 'wrong\n');
    const log = (level: string, flags: string[], env: Record<string, string> = {}) => runCli(['log', '--level', level, '--addr', watcher.url, ...flags], env);

    const before = changes('error');
    const r = await log('error', ['--admin-token', token]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /log level set to error/);
    await eventually(async () => assert.equal(changes('error'), before + 1));

    // Flag > env: a right flag beats a wrong token in the environment, given as value or as file ...
    for (const env of [{ ZK2ETCD_ADMIN_TOKEN: 'wrong' }, { ZK2ETCD_ADMIN_TOKEN_FILE: wrongFile }] as Record<string, string>[]) {
      const over = await log('info', [`--admin-token=${token}`], env);
      assert.equal(over.code, 0, `${Object.keys(env).join()}: ${over.stderr}`);
    }
    // ... and a wrong flag is not rescued by the right token in the environment.
    const refused = await log('warn', ['--admin-token=wrong'], { ZK2ETCD_ADMIN_TOKEN_FILE: tokenFile });
    assert.equal(refused.code, 1, refused.stderr);
    for (const out of [r, refused]) assert.ok(!out.stdout.includes(token) && !out.stderr.includes(token), 'the token is shown');
  });

  test('the token never appears in logs or --help', async () => {
    assert.ok(!watcher.output().includes(token));
    const help = await runCli(['sync', '--help']);
    assert.ok(!help.stdout.includes(token));
    assert.match(help.stdout, /--admin-token-file/);
  });

  test('--http-addr already in use: exit 1 with one line naming the flag, no stack trace', async () => {
    const busy = new URL(watcher.url).host; // the running watcher's own address
    const r = await runCli(['sync', `--http-addr=${busy}`, `--zookeeper-prefix=${root}`, `--instance=${name}-busy`, '--leader-elect=none']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stderr, `zk2etcd sync: --http-addr ${busy}: the address is already in use; set --http-addr to a free [host]:port\n`);
  });

  test('--leader-elect=kubernetes outside a cluster without --lease-namespace: a configuration error, exit 2', async () => {
    const r = await runCli(['sync', '--http-addr=127.0.0.1:0', `--zookeeper-prefix=${root}`, `--instance=${name}-ns`, '--leader-elect=kubernetes']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /^zk2etcd sync: --lease-namespace is not set and \/var\/run\/secrets\/kubernetes.io\/serviceaccount\/namespace cannot be read/);
  });
});
