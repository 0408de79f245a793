import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { privateEtcd } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { etcdctl } from '../helpers/secure-servers.js';
import { freshName, jsonReport, runCli, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';

/**
 * etcd refusing every write with its database full (NOSPACE, "database space exceeded": an ordinary etcd
 * incident). Nothing was applied, so the `pending` marks of the refused writes are taken back: left in
 * place they would prove ownership of whatever another tool writes under those keys later, and a watcher
 * retrying through the outage stacked one more per attempt.
 */
describe('etcd out of space (NOSPACE)', () => {
  const name = freshName('nospace');
  const root = `/${name}`;
  const hash = ownershipHashKey(name);
  const redis = testRedis();
  let zk: TestZk;
  let server: PrivateServer;
  let etcd: Etcd3;
  const env = () => ({ ZK2ETCD_ETCD_SERVERS: server.address });
  const flags = [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`];
  const filler = `${root}-filler/`;

  /** Writes 200 KB values until etcd refuses with NOSPACE. */
  const fill = async (): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      try {
        await etcd.put(`${filler}${i}`).value(Buffer.alloc(200_000, i % 251));
      } catch (err) {
        assert.match((err as Error).message, /database space exceeded/);
        return;
      }
    }
    assert.fail('etcd never ran out of space');
  };
  /** Frees the space and clears the alarm, as an operator would. */
  const free = async (): Promise<void> => {
    await etcd.delete().prefix(filler);
    const status = JSON.parse(await etcdctl(server.address, ['endpoint', 'status', '-w', 'json'])) as { Status: { header: { revision: number } } }[];
    await etcdctl(server.address, ['compact', String(status[0]?.Status.header.revision)]);
    await etcdctl(server.address, ['defrag']);
    await etcdctl(server.address, ['alarm', 'disarm']);
  };
  const layers = (value: string | undefined): number => (value ?? '').split('pending:').length - 1;

  before(async () => {
    server = await privateEtcd(['--quota-backend-bytes', String(4 * 1024 * 1024)]);
    await server.start();
    // No circuit breaker: the refused writes of `fill` would open it, and the test's later calls fail.
    etcd = new Etcd3({ hosts: server.address, faultHandling: { host: () => noop, global: noop } });
    zk = await testZk();
    await zk.createAll([[root, Buffer.alloc(0)], ...Array.from({ length: 20 }, (_, i): [string, Buffer] => [`${root}/n${i}`, Buffer.from(`v${i}`)])]);
    const r = await runCli(['fix', ...flags], env());
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    await zk.removeTree(root);
    zk.close();
    etcd?.close();
    await redis.del(hash);
    redis.disconnect();
    await server?.cleanup();
  });

  test('a fix refused with NOSPACE leaves no pending marks: a key another tool writes after its node is deleted is kept', { timeout: 120_000 }, async () => {
    const before = await redis.hgetall(hash);
    await zk.set(`${root}/n0`, Buffer.from('v0 changed'));
    await zk.create(`${root}/n20`, Buffer.from('v20'));
    await fill();
    const r = await runCli(['fix', ...flags, '--output=json'], env());
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /database space exceeded/);
    assert.equal(JSON.parse(r.stdout).error.class, 'etcd_resourceexhausted');
    assert.deepEqual(await redis.hgetall(hash), before, 'every mark taken back: the records are as before the run');

    await free();
    // The node goes, and another tool writes the key: our record is of an older revision, so it is not ours.
    await zk.remove(`${root}/n0`);
    await etcd.put(`${root}/n0`).value('another tool');
    const fixed = await runCli(['fix', ...flags, '--output=json'], env());
    assert.equal(fixed.code, 0, fixed.stderr);
    const report = jsonReport(fixed);
    assert.deepEqual(report.conflict, [`${root}/n0`]);
    assert.deepEqual(report.applied, { put: 1, delete: 0, skipped: 0 }, 'n20 written');
    assert.equal(await etcd.get(`${root}/n0`).string(), 'another tool');
    await etcd.delete().key(`${root}/n0`);
  });

  test('the watcher retrying through NOSPACE stacks no marks, and writes once etcd has room', { timeout: 120_000 }, async () => {
    const w = await startWatcher([...flags, '--leader-elect=none', '--fullsync-interval=0'], env());
    try {
      await waitForLog(w, 'full reconcile done');
      await fill();
      const keys = [1, 2, 3, 4, 5].map((i) => `${root}/n${i}`);
      for (const key of keys) await zk.set(key, Buffer.from(`${key} changed`));
      await waitForLog(w, 'etcd transaction failed; retrying', 6, 60_000);
      await sleep(3000); // more attempts, each of which used to leave a layer per key
      const records = await redis.hmget(hash, ...keys);
      // A flush in flight holds one layer; refused ones hold none.
      for (const [i, value] of records.entries()) assert.ok(layers(value ?? undefined) <= 1, `${keys[i]}: ${value}`);
      await free();
      await eventually(async () => {
        for (const key of keys) assert.equal(await etcd.get(key).string(), `${key} changed`);
      }, 60_000);
      await eventually(async () => {
        const now = await redis.hmget(hash, ...keys);
        for (const [i, value] of now.entries()) assert.equal(layers(value ?? undefined), 0, `${keys[i]}: ${value}`);
      });
    } finally {
      await w.stop();
    }
  });
});
