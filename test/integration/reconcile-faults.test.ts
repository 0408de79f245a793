import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { dubboTree } from '../helpers/dubbo.js';
import { privateEtcd, privateZk } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';
import { etcdDump, freshName, runCli, testRedis, testZk } from '../helpers/services.js';
import type { CliResult, TestZk } from '../helpers/services.js';
import { isPendingValue } from '../../common/ownership/store.js';

/**
 * Servers restarted and signals sent in the middle of one-shot runs. Timing decides whether a run rides
 * through or fails; either way the end state must hold: no partial deletes, records consistent with
 * etcd, and the next run converges.
 */
describe('fix across ZooKeeper and etcd restarts and SIGTERM', () => {
  const name = freshName('rfaults');
  const root = `/${name}`;
  const hash = ownershipHashKey(name);
  let zkServer: PrivateServer;
  let etcdServer: PrivateServer;
  let zk: TestZk;
  let etcd: Etcd3;
  const redis: Redis = testRedis();
  let expected: Map<string, Buffer>;
  const env = () => ({ ZK2ETCD_ZOOKEEPER_SERVERS: zkServer.address, ZK2ETCD_ETCD_SERVERS: etcdServer.address });
  const fix = (onSpawn?: (c: ChildProcess) => void): Promise<CliResult> =>
    runCli(['fix', `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--output=json'], env(), onSpawn);

  /** etcd holds exactly the tree (plus nothing of ours elsewhere) and every record matches its key. */
  const assertConsistent = async (complete: boolean) => {
    const dump = await etcdDump(etcd, root);
    const records = await redis.hgetall(hash);
    const revisions = new Map((await etcd.getAll().prefix(root).exec()).kvs.map((kv) => [kv.key.toString(), kv.mod_revision]));
    for (const [key, value] of dump) {
      assert.ok(expected.get(key)?.equals(value), `${key} holds ZooKeeper's bytes`);
      assert.ok(records[key] === revisions.get(key) || isPendingValue(records[key] ?? ''), `record of ${key}`);
    }
    if (complete) assert.equal(dump.size, expected.size);
  };
  const converge = async (first: CliResult) => {
    assert.ok(first.code === 0 || first.code === 1, `exit ${first.code}: ${first.stderr}`);
    // stdout carries only the JSON report, even when the ZooKeeper connection drops mid-run.
    if (first.stdout.trim() !== '') assert.doesNotThrow(() => JSON.parse(first.stdout), `stdout: ${first.stdout.slice(0, 500)}`);
    else assert.equal(first.code, 1);
    await assertConsistent(first.code === 0);
    if (first.code !== 0) {
      const again = await fix();
      assert.equal(again.code, 0, again.stderr);
    }
    await assertConsistent(true);
  };

  before(async () => {
    [zkServer, etcdServer] = await Promise.all([privateZk(), privateEtcd()]);
    await Promise.all([zkServer.start(), etcdServer.start()]);
    zk = await testZk(zkServer.address);
    const nodes = dubboTree(root, 80, 60, 36);
    await zk.createAll(nodes, 300);
    expected = new Map(nodes);
    etcd = new Etcd3({ hosts: etcdServer.address });
  });

  after(async () => {
    zk?.close();
    etcd?.close();
    await redis.del(hash);
    redis.disconnect();
    await Promise.all([zkServer?.cleanup(), etcdServer?.cleanup()]);
  });

  test('ZooKeeper restarted during the walk', async () => {
    const run = fix();
    await sleep(400);
    await zkServer.kill();
    await zkServer.start();
    await converge(await run);
    zk.close();
    zk = await testZk(zkServer.address);
  });

  test('etcd restarted during the apply', async () => {
    await etcd.delete().prefix(root);
    await redis.del(hash);
    const run = fix();
    await sleep(1200);
    await etcdServer.kill();
    await sleep(300);
    await etcdServer.start();
    await converge(await run);
  });

  test('SIGTERM during a fix: in-flight batches finish, the run fails, the next one converges', async () => {
    await etcd.delete().prefix(root);
    await redis.del(hash);
    let child: ChildProcess | undefined;
    const run = fix((c) => (child = c));
    // Signal once the apply has started (the first key is in etcd), whatever the machine's speed.
    while ((await etcd.getAll().prefix(root).count()) === 0 && child?.exitCode === null) await sleep(10);
    child?.kill('SIGTERM');
    await converge(await run);
  });
});
