import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { cleanupRoot, freshName, jsonReport, runCli, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';

/**
 * Switching from zk2etcd 1.x (SPEC §3): its records are plain Redis keys equal to the etcd key, with no
 * revision. A run that writes with --legacy-ownership adopts them (our record at the revision etcd holds
 * then) and removes them, so a key another writer rewrites later is a conflict, never deleted.
 */
describe('--legacy-ownership adopts zk2etcd 1.x records', () => {
  const name = freshName('legacy');
  const root = `/${name}`;
  const sibling = `/${name}-admin`; // shares the string prefix, not the path prefix
  const excluded = `${root}/config`;
  const glob = `${root}/svc[1]*?`; // glob characters in a name: matched literally
  const hashed = `${root}/hashed`;
  const hashOnly = `${root}/hash-only`;
  const hash = ownershipHashKey(name);
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const flags = [`--zookeeper-prefix=${root}`, `--zookeeper-exclude-prefix=${excluded}`, `--instance=${name}`, '--output=json', '--legacy-ownership'];
  const PROVIDERS = 2500; // SCAN pages (1,000 a call) and several adoption batches
  const providers = Array.from({ length: PROVIDERS }, (_, i) => `${root}/p${i}`);
  const written = [root, glob, ...providers]; // what 1.x copied and recorded

  /** What 1.x left behind: etcd keys, each with a plain DB-0 record. */
  const write1x = async (entries: readonly [string, string][]): Promise<void> => {
    for (let i = 0; i < entries.length; i += 250) {
      await Promise.all(entries.slice(i, i + 250).map(([k, v]) => etcd.put(k).value(v)));
    }
    const p = redis.pipeline();
    for (const [k] of entries) p.set(k, '1');
    await p.exec();
  };
  const records1x = async (keys: readonly string[]): Promise<number> => {
    const p = redis.pipeline();
    for (const k of keys) p.exists(k);
    return ((await p.exec()) ?? []).filter(([, n]) => n === 1).length;
  };

  before(async () => {
    zk = await testZk();
    await zk.createAll([[root, Buffer.from('r')], [glob, Buffer.from('g')], [excluded, Buffer.from('c')], ...providers.map((p): [string, Buffer] => [p, Buffer.from(p)])]);
    await write1x([[root, 'r'], [glob, 'g'], ...providers.map((p): [string, string] => [p, p])]);
    await write1x([[`${excluded}/x`, 'excluded'], [`${sibling}/x`, 'sibling']]);
    await redis.set(`${root}/gone`, '1'); // a record 1.x left for a key that no longer exists anywhere
    // Not a 1.x record: another tool's hash in DB 0 named like a path (Dubbo's Redis registry), beside a key it wrote.
    await zk.create(hashed, Buffer.from('h'));
    await etcd.put(hashed).value('h');
    await redis.hset(hashed, 'provider', 'dubbo://10.0.0.1:20880');
    // The same beside a key with no znode: a hash is no proof of ownership, so the key is foreign.
    await etcd.put(hashOnly).value('x');
    await redis.hset(hashOnly, 'provider', 'dubbo://10.0.0.2:20880');
  });

  after(async () => {
    await redis.del(`${excluded}/x`, `${sibling}/x`, `${root}/gone`, hashed, hashOnly, ...written);
    await etcd.delete().prefix(sibling);
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test('diff and fix --dry-run change no record', async () => {
    const d = await runCli(['diff', ...flags]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(jsonReport(d).inSync, true);
    assert.deepEqual(jsonReport(d).foreign, [hashOnly], 'a hash named like the key is no 1.x record');
    const dry = await runCli(['fix', ...flags, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(await redis.hlen(hash), 0);
    assert.equal(await records1x([...written, `${root}/gone`]), written.length + 1);
  });

  test('fix adopts every 1.x record under the prefix at the revision etcd holds, and removes it; others are left', async () => {
    const r = await runCli(['fix', ...flags, '--log-level=info']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`"adopted":${written.length},"removed":1,.*"msg":"zk2etcd 1.x records under the prefixes adopted`));
    const records = await redis.hgetall(hash);
    assert.equal(Object.keys(records).length, written.length);
    for (const key of written) {
      const kv = (await etcd.get(key).exec()).kvs[0];
      assert.equal(records[key], String(kv?.mod_revision), `${key} recorded at its revision`);
    }
    assert.equal(await records1x([...written, `${root}/gone`]), 0, 'the 1.x records under the prefix are gone, the stale one too');
    assert.equal(await records1x([`${excluded}/x`, `${sibling}/x`]), 2, 'an excluded subtree and a sibling prefix are not ours to touch');
    assert.equal(await redis.type(hashed), 'hash', 'a hash named like a key is not a 1.x record: neither adopted nor deleted');
    assert.equal(records[hashed], undefined);
  });

  test('afterwards a key another writer rewrote is a conflict, and one another writer created is foreign: both kept', async () => {
    const rewritten = `${root}/p7`;
    await etcd.put(rewritten).value('another writer');
    await zk.remove(rewritten);
    await etcd.put(`${root}/gone`).value('another team'); // 1.x's stale record would have claimed it
    await zk.remove(`${root}/p8`); // still ours, unchanged: deleted
    await zk.remove(hashed); // its key has no record (the hash is not one): foreign
    const r = await runCli(['fix', ...flags, '--log-level=info']);
    assert.equal(r.code, 0, r.stderr);
    const report = jsonReport(r);
    assert.deepEqual(report.extra, [`${root}/p8`]);
    assert.equal(report.counts.conflict, 1);
    assert.equal(report.counts.foreign, 3);
    assert.equal(await etcd.get(hashed).string(), 'h');
    assert.equal(await redis.type(hashed), 'hash');
    assert.equal(await etcd.get(rewritten).string(), 'another writer');
    assert.equal(await etcd.get(`${root}/gone`).string(), 'another team');
    assert.equal(await etcd.get(`${root}/p8`).string(), null);
    assert.doesNotMatch(r.stderr, /1\.x records under the prefixes adopted/, 'nothing left to adopt');
  });
});
