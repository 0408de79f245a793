import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { privateEtcd } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { freshName, jsonReport, runCli, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';

/**
 * A znode too large for one etcd request (ZooKeeper's jute.maxbuffer raised above etcd's
 * --max-request-bytes): etcd refuses its write every time. Played here with an etcd whose limit is 64 KiB
 * (its gRPC receive limit is that plus 512 KiB), so values of 100 KB (INVALID_ARGUMENT "request is too
 * large") and 700 KB (RESOURCE_EXHAUSTED from the server's gRPC) stand for the real sizes. That key is
 * left out, named in an error, and everything else is synced: a one-shot fix reports it unfixed (exit 3);
 * the watcher keeps following other changes instead of exiting or retrying the key forever.
 */
describe('a znode too large for an etcd request', () => {
  const name = freshName('toolarge');
  const root = `/${name}`;
  const hash = ownershipHashKey(name);
  const redis = testRedis();
  let zk: TestZk;
  let server: PrivateServer;
  let etcd: Etcd3;
  const big = (kb: number) => Buffer.alloc(kb * 1000, 'b');
  const env = () => ({ ZK2ETCD_ETCD_SERVERS: server.address });
  const flags = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`];

  before(async () => {
    server = await privateEtcd(['--max-request-bytes', String(64 * 1024)]);
    await server.start();
    etcd = new Etcd3({ hosts: server.address });
    zk = await testZk();
    const small = Array.from({ length: 300 }, (_, i): [string, Buffer] => [`${root}/s${i}`, Buffer.from(`small-${i}`)]);
    await zk.createAll([[root, Buffer.alloc(0)], [`${root}/big100k`, big(100)], ...small, [`${root}/big700k`, big(700)]], 100);
  });

  after(async () => {
    await zk.removeTree(root);
    zk.close();
    etcd?.close();
    await redis.del(hash);
    redis.disconnect();
    await server?.cleanup();
  });

  test('fix: the other keys are written, the two refused ones reported unfixed (exit 3) and named, no record left for them', async () => {
    const r = await runCli(['fix', ...flags, '--output=json'], env());
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(jsonReport(r).applied, { put: 301, delete: 0, skipped: 2 });
    for (const key of [`${root}/big100k`, `${root}/big700k`]) {
      assert.match(r.stderr, new RegExp(`"key":"${key}".*etcd refused this value as too large for a request`));
      assert.equal(await etcd.get(key).string(), null);
      assert.equal(await redis.hget(hash, key), null, 'its pending mark was taken back');
    }
    assert.equal(await etcd.get(`${root}/s299`).string(), 'small-299');
    assert.equal((await etcd.getAll().prefix(root).keys()).length, 301);
    // Reported as missing again, nothing else.
    const diff = await runCli(['diff', ...flags, '--output=json'], env());
    assert.deepEqual(jsonReport(diff).missing, [`${root}/big100k`, `${root}/big700k`]);
  });

  test('sync: a value refused as too large is left out, and later changes are still followed', async () => {
    const w = await startWatcher([...flags, '--fullsync-interval=0'], env());
    try {
      await waitForLog(w, 'full reconcile done');
      await zk.set(`${root}/s1`, big(200));
      await zk.create(`${root}/after`, Buffer.from('after'));
      await zk.set(`${root}/s2`, Buffer.from('changed'));
      await eventually(async () => {
        assert.equal(await etcd.get(`${root}/after`).string(), 'after');
        assert.equal(await etcd.get(`${root}/s2`).string(), 'changed');
      }, 30_000);
      assert.equal(await etcd.get(`${root}/s1`).string(), 'small-1', 'the refused change left the old value');
      assert.match(w.output(), new RegExp(`"key":"${root}/s1".*etcd refused this value as too large for a request`));
      assert.equal(w.child.exitCode, null, 'the watcher is still running');
      assert.doesNotMatch(w.output(), /etcd transaction failed; retrying/, 'a refused request is not retried');
      const metrics = await (await fetch(`${w.url}/metrics`)).text();
      assert.match(metrics, /^zk2etcd_etcd_op_total\{op="txn",status="etcd_request_too_large"\} [1-9]/m);
    } finally {
      const { code } = await w.stop();
      assert.equal(code, 0);
    }
  });
});
