import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { etcd3Store } from '../../common/etcd/etcd3-store.js';
import { RANGE } from '../../common/etcd/range-codec.js';
import { rawUnary } from '../../common/etcd/raw-call.js';
import { etcdRangesFor } from '../../common/paths.js';
import { dubboTree } from '../helpers/dubbo.js';
import { freshName, servers, testEtcd } from '../helpers/services.js';

/**
 * The snapshot reads pages with its own Range codec over etcd3's connection: it must return exactly what
 * etcd holds (every key, value and mod revision), page after page at one pinned revision.
 */
describe('etcd snapshot over the raw Range call', () => {
  const root = `/${freshName('etcd-snapshot')}`;
  let etcd: Etcd3;
  const written = new Map<string, Buffer>();
  // etcd3 without the pool (another etcd3 version), like a request whose auth token expired, goes through
  // etcd3's own Range and Txn: both paths must give the same answers.
  const withoutPool = (c: Etcd3): Etcd3 => new Proxy(c, { get: (target, prop) => (prop === 'pool' ? undefined : Reflect.get(target, prop)) });
  const invalidKeys = [Buffer.from(`${root}/bad-\xff`, 'latin1'), Buffer.from(`${root}/bad-\xc3\x28`, 'latin1'), Buffer.from(`${root}/zz-\xfe`, 'latin1')];

  before(async () => {
    etcd = testEtcd();
    // 14,001 Dubbo-shaped keys; every third value binary (not UTF-8).
    const entries = dubboTree(root, 400, 10, 20).map(([key, value], i): [string, Buffer] => [key, i % 3 === 2 ? Buffer.from([0, 255, i % 256, 0x80]) : value]);
    entries.push([`${root}/服务/提供者`, Buffer.from('utf-8 key')]);
    for (const [k, v] of entries) written.set(k, v);
    for (let i = 0; i < entries.length; i += 100) {
      const batch = entries.slice(i, i + 100);
      await etcd.kv.txn({ compare: [], success: batch.map(([key, value]) => ({ request_put: { key: Buffer.from(key), value } })), failure: [] });
    }
    for (const key of invalidKeys) await etcd.kv.put({ key, value: Buffer.from('x') });
    // Large values (one request each: etcd takes at most 1.5 MiB per request) make the pages shrink.
    for (let i = 0; i < 30; i++) {
      const key = `${root}/config/big-${i}`;
      written.set(key, Buffer.alloc(200_000, 0x61 + (i % 26)));
      await etcd.put(key).value(written.get(key) as Buffer);
    }
    // Outside the prefix by path, inside it as a raw string: never read.
    await etcd.put(`${root}-admin/x`).value('foreign');
  });

  after(async () => {
    await etcd?.delete().prefix(root);
    for (const key of invalidKeys) await etcd?.kv.deleteRange({ key });
    etcd?.close();
  });

  test('the pinned etcd3 has the connection pool the raw call uses', () => {
    assert.equal(rawUnary(etcd, RANGE, 1000, () => Promise.reject(new Error('unused'))).raw, true);
  });

  test('every key, value and mod revision under the prefix, over many pages, equals what etcd holds', async () => {
    const ranges = [etcdRangesFor('', root)];
    let pages = 0;
    const snap = await etcd3Store(etcd).snapshot(ranges, () => pages++);
    assert.ok(pages >= 3, `read in ${pages} pages`);

    // Read at the snapshot's revision: other test files write to this etcd meanwhile, so the current
    // revision may have moved on (nothing under this prefix changes, though).
    const all = await etcd.kv.range({ key: Buffer.from(root), range_end: Buffer.from(`${root}0`), revision: snap.revision });
    const expected = all.kvs.filter((kv) => {
      const key = kv.key.toString('latin1');
      return key === root || key.startsWith(`${root}/`);
    });
    assert.equal(expected.length, written.size + invalidKeys.length);
    assert.equal(snap.undecodable, invalidKeys.length, 'keys that are not UTF-8 are counted, not returned');
    assert.equal(snap.entries.size, written.size);
    for (const kv of expected) {
      if (invalidKeys.some((k) => k.equals(kv.key))) continue;
      const key = kv.key.toString('utf8');
      const got = snap.entries.get(key);
      assert.ok(got, `snapshot has ${key.slice(0, 80)}`);
      assert.equal(got.key, key);
      assert.ok(got.value.equals(kv.value), `value of ${key.slice(0, 80)} is byte-exact`);
      assert.ok(got.value.equals(written.get(key) as Buffer), `value of ${key.slice(0, 80)} is what was written`);
      assert.equal(got.modRevision, kv.mod_revision);
    }
    const newest = all.kvs.reduce((max, kv) => (BigInt(kv.mod_revision) > max ? BigInt(kv.mod_revision) : max), 0n);
    assert.ok(BigInt(snap.revision) >= newest, `the snapshot's revision ${snap.revision} is at or after every key's last write (${newest})`);
    assert.ok(BigInt(snap.revision) <= BigInt(all.header.revision));
  });

  test('a prefix whose own key is absent: only the keys under it, on the raw Range and on etcd3\'s alike', async () => {
    const under = `${root}/config`;
    assert.ok(!written.has(under), 'the prefix root itself is not in etcd');
    const expected = [...written.keys()].filter((k) => k.startsWith(`${under}/`)).sort();
    assert.equal(expected.length, 30);
    for (const client of [etcd, withoutPool(etcd)]) {
      const snap = await etcd3Store(client).snapshot([etcdRangesFor('', under)]);
      assert.deepEqual([...snap.entries.keys()].sort(), expected);
      // Absent, with keys after it in etcd (`${root}/config/...`, `${root}-admin/x`): nothing.
      const none = await etcd3Store(client).snapshot([etcdRangesFor('', `${root}/absent`)]);
      assert.deepEqual([...none.entries.keys()], []);
      assert.equal(none.undecodable, 0);
    }
  });

  test('pages after the first are read at the first page\'s revision: later writes are not seen', async () => {
    const ranges = [etcdRangesFor('', root)];
    const lateKey = `${root}/zzz-late`;
    // The last provider of the last interface: on a later page than the first.
    const changedKey = [...written.keys()].filter((k) => k.includes('/providers/')).sort().at(-1) as string;
    let wrote = false;
    const snap = await etcd3Store(etcd).snapshot(ranges, () => {
      if (wrote) return;
      wrote = true;
      void etcd.put(lateKey).value('late').exec();
      void etcd.put(changedKey).value('changed').exec();
    });
    // Let the writes land before the assertions (the snapshot may have finished first).
    await etcd.put(`${lateKey}-sync`).value('x');
    assert.ok(wrote);
    assert.equal(snap.entries.has(lateKey), false, 'a key created after the first page is not in the snapshot');
    assert.ok(snap.entries.get(changedKey)?.value.equals(written.get(changedKey) as Buffer), 'a key changed after the first page keeps its value at the pinned revision');
    assert.equal(await etcd.get(changedKey).string(), 'changed', 'the change did land');
    await etcd.put(changedKey).value(written.get(changedKey) as Buffer);
    await etcd.delete().key(lateKey);
    await etcd.delete().key(`${lateKey}-sync`);
  });

  // A receive limit of 512 KiB (the product's is 64 MiB) holds at most two of the 200,000-byte values: replies
  // over it fail with RESOURCE_EXHAUSTED and must be read in smaller pieces. etcd3's retries and circuit
  // breaker are off, as in createEtcdClient (its breaker would open after three such replies).
  const smallClient = (): Etcd3 =>
    new Etcd3({ hosts: servers.etcd, grpcOptions: { 'grpc.max_receive_message_length': 512 * 1024 }, faultHandling: { host: () => noop, global: noop } });

  test('with a small receive limit, the snapshot shrinks its pages and equals the normal one', async () => {
    const small = smallClient();
    try {
      const ranges = [etcdRangesFor('', root)];
      const normal = await etcd3Store(etcd).snapshot(ranges);
      const shrunk = await etcd3Store(small).snapshot(ranges);
      // Other test files write to this etcd meanwhile: the revision may move on, nothing under the prefix does.
      assert.ok(BigInt(shrunk.revision) >= BigInt(normal.revision));
      assert.equal(shrunk.undecodable, normal.undecodable);
      assert.equal(shrunk.entries.size, normal.entries.size);
      for (const [key, entry] of normal.entries) {
        const other = shrunk.entries.get(key);
        assert.ok(other, `small-limit snapshot has ${key.slice(0, 80)}`);
        assert.equal(other.key, entry.key);
        assert.ok(other.value.equals(entry.value), `value of ${key.slice(0, 80)} is byte-exact`);
        assert.equal(other.modRevision, entry.modRevision);
      }
    } finally {
      small.close();
    }
  });

  test('with a small receive limit, getMany splits its read transactions and returns every value byte-exact', async () => {
    const small = smallClient();
    try {
      const big = [...written.keys()].filter((k) => k.includes('/config/big-'));
      assert.equal(big.length, 30);
      const keys = [...[...written.keys()].filter((k) => !big.includes(k)).slice(0, 60), ...big, `${root}/config/absent`];
      const got = await etcd3Store(small).getMany(keys);
      const normal = await etcd3Store(etcd).getMany(keys);
      assert.equal(got.size, keys.length - 1, 'every present key, and not the absent one');
      for (const key of keys.slice(0, -1)) {
        const entry = got.get(key);
        assert.ok(entry, `getMany has ${key.slice(0, 80)}`);
        assert.ok(entry.value.equals(written.get(key) as Buffer), `value of ${key.slice(0, 80)} is byte-exact`);
        assert.equal(entry.modRevision, normal.get(key)?.modRevision);
      }
    } finally {
      small.close();
    }
  });


  test('without the pool, etcd3\'s own Range gives the same snapshot', async () => {
    assert.equal(rawUnary(withoutPool(etcd), RANGE, 1000, () => Promise.reject(new Error('unused'))).raw, false);
    const ranges = [etcdRangesFor('', root)];
    const raw = await etcd3Store(etcd).snapshot(ranges);
    const lib = await etcd3Store(withoutPool(etcd)).snapshot(ranges);
    assert.ok(BigInt(lib.revision) >= BigInt(raw.revision)); // other test files move the revision on
    assert.equal(lib.undecodable, raw.undecodable);
    assert.equal(lib.entries.size, raw.entries.size);
    for (const [key, entry] of raw.entries) {
      const other = lib.entries.get(key);
      assert.ok(other && other.value.equals(entry.value) && other.modRevision === entry.modRevision, `same entry for ${key.slice(0, 80)}`);
    }
  });

  test('without the pool, etcd3\'s own Txn gives the same getMany', async () => {
    const keys = [...written.keys()].filter((_, i) => i % 37 === 0);
    keys.push(`${root}/config/big-3`, `${root}/absent`, `${root}/服务/提供者`);
    const raw = await etcd3Store(etcd).getMany(keys);
    const lib = await etcd3Store(withoutPool(etcd)).getMany(keys);
    assert.equal(raw.size, keys.length - 1, 'every key but the absent one');
    assert.equal(lib.size, raw.size);
    for (const [key, entry] of raw) {
      assert.ok(entry.value.equals(written.get(key) as Buffer), `value of ${key.slice(0, 80)} is what was written`);
      const other = lib.get(key);
      assert.ok(other && other.value.equals(entry.value) && other.modRevision === entry.modRevision, `same entry for ${key.slice(0, 80)}`);
    }
  });

  test('commit: our Txn and etcd3\'s agree on a success, a failed compare and a held fence', async () => {
    for (const [label, store] of [['raw', etcd3Store(etcd)], ['library', etcd3Store(withoutPool(etcd))]] as const) {
      const key = `${root}/txn-${label}/${'k'.repeat(600)}`;
      const fenceKey = `${root}/txn-${label}-leader`;
      await etcd.put(fenceKey).value('me');
      const fence = { key: fenceKey, createRevision: String((await etcd.kv.range({ key: Buffer.from(fenceKey) })).kvs[0]?.create_revision) };

      const created = await store.commit([{ type: 'put', key, value: Buffer.from('v1'), expect: { absent: true } }], fence);
      assert.equal(created.succeeded, true, `${label}: a put of an absent key commits`);
      const now = (await etcd.kv.range({ key: Buffer.from(key) })).kvs[0];
      assert.equal(now?.value.toString(), 'v1');
      assert.equal(created.succeeded && created.revision, now?.mod_revision, `${label}: the reply carries the commit's revision`);

      const again = await store.commit([{ type: 'put', key, value: Buffer.from('v2'), expect: { absent: true } }], fence);
      assert.equal(again.succeeded, false, `${label}: absent no longer holds`);
      assert.ok(!again.succeeded && again.fenceHeld && again.current.get(key)?.value.toString() === 'v1');

      const moved = await store.commit([{ type: 'delete', key, expect: { modRevision: now?.mod_revision as string } }], { key: fenceKey, createRevision: '1' });
      assert.ok(!moved.succeeded && !moved.fenceHeld, `${label}: a fence that is not held fails the transaction`);

      const deleted = await store.commit([{ type: 'delete', key, expect: { modRevision: now?.mod_revision as string } }], fence);
      assert.equal(deleted.succeeded, true, `${label}: a delete at the expected mod revision commits`);
      assert.equal((await etcd.kv.range({ key: Buffer.from(key) })).kvs.length, 0);
      await etcd.delete().key(fenceKey);
    }
  });
});
