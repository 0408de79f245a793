import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisAnswers } from '../helpers/private-servers.js';
import { spawnClean } from '../helpers/spawn-clean.js';
import { eventually, freePort } from '../helpers/watcher-process.js';
import { ownershipHashKey, redisOwnershipStore } from '../../common/ownership/redis-store.js';
import { connectRedis, isRedisConfigRefused, type RedisClients } from '../../common/ownership/connect.js';
import { OwnershipUnavailableError } from '../../common/errors.js';
import { cleanupRoot, freshName, runCli, servers, testEtcd, testRedis, testZk } from '../helpers/services.js';

/** SPEC §3: markPending puts its own layer in front of each key's record; restore takes it off again. */
describe('Redis ownership store: markPending', () => {
  const instance = freshName('ownership');
  const hash = ownershipHashKey(instance);
  const redis = testRedis();
  const store = redisOwnershipStore(redis, { instance, legacy: null });

  after(async () => {
    await redis.del(hash);
    redis.disconnect();
  });

  test('marks each key (none, pending, a revision) with its layer in front of the record it had', async () => {
    const k = (s: string) => `/${instance}/${s}`;
    await redis.hset(hash, k('pending'), 'pending', k('recorded'), '4711', k('ünïcødé/☃'), '12');
    const keys = [k('absent'), k('pending'), k('recorded'), k('ünïcødé/☃')];
    const { token } = await store.markPending(keys);
    const marked = await redis.hgetall(hash);
    assert.deepEqual(Object.keys(marked).sort(), [...keys].sort());
    assert.match(token, /^[0-9a-f]{12}\.\d+\.\d+$/, "the writer's id, this call's number and its time");
    const own = `pending:${token}`;
    assert.deepEqual(
      keys.map((key) => marked[key]),
      [`${own}:`, `${own}:pending`, `${own}:4711`, `${own}:12`],
      "one layer for the whole write, in front of the value it replaced",
    );

    // restore puts back exactly what was there.
    await store.restore({ token }, keys);
    assert.deepEqual(await redis.hgetall(hash), { [k('pending')]: 'pending', [k('recorded')]: '4711', [k('ünïcødé/☃')]: '12' });
    await redis.del(hash);
  });

  test('more keys than one chunk (1000): each key is marked over its own record, and gets it back', async () => {
    const keys = Array.from({ length: 2500 }, (_, i) => `/${instance}/many/${'x'.repeat(900)}/${i}`);
    // Every third key recorded at a revision of its own, every fifth (not third) pending.
    const fields: string[] = [];
    keys.forEach((key, i) => {
      if (i % 3 === 0) fields.push(key, String(1000 + i));
      else if (i % 5 === 0) fields.push(key, 'pending');
    });
    await redis.hset(hash, ...fields);
    const before = await redis.hgetall(hash);
    const marks = await store.markPending(keys);
    const after = await redis.hgetall(hash);
    assert.equal(Object.keys(after).length, keys.length);
    keys.forEach((key, i) => assert.equal(after[key], `pending:${marks.token}:${before[key] ?? ''}`, `key ${i}`));
    await store.restore(marks, keys);
    assert.deepEqual(await redis.hgetall(hash), before);
    await redis.del(hash);
  });

  test('a flushed script cache (Redis restarted, SCRIPT FLUSH) is reloaded transparently', async () => {
    const key = `/${instance}/after-flush`;
    await store.markPending([key]);
    await redis.script('FLUSH');
    await redis.hset(hash, key, '99');
    const { token } = await store.markPending([key]);
    assert.equal(await redis.hget(hash, key), `pending:${token}:99`);
    await redis.del(hash);
  });

  test("a writer deposed meanwhile changes no record another writer made: only its own marks are settled or put back", async () => {
    const k = (s: string) => `/${instance}/deposed/${s}`;
    const deposed = redisOwnershipStore(redis, { instance, legacy: null });
    const leader = redisOwnershipStore(redis, { instance, legacy: null });
    const keys = [k('rewritten'), k('remarked'), k('removed'), k('untouched')];
    const creates = (ks: string[]) => new Map(ks.map((key) => [key, null]));
    const old = await deposed.markPending(keys);
    // Meanwhile the new leader wrote one key, is writing another, and deleted a third.
    const first = await leader.markPending([k('rewritten')]);
    const second = await leader.markPending([k('remarked')]);
    await leader.recordRevision(first, creates([k('rewritten')]), '200');
    await leader.forget(new Map([[k('removed'), (await redis.hget(hash, k('removed'))) ?? '']]));
    await redis.hdel(hash, k('removed'));
    await deposed.recordRevision(old, creates(keys), '100'); // its commit's revision, recorded late
    assert.equal(await redis.hget(hash, k('rewritten')), '200');
    assert.equal(await redis.hget(hash, k('remarked')), `pending:${second.token}:100`, "the deposed writer's layer became its revision, under the new leader's");
    await leader.recordRevision(second, creates([k('remarked')]), '201');
    assert.equal(await redis.hget(hash, k('remarked')), '201', "the new leader's own mark is still its to settle");
    // Its commit preceded the new leader's delete: a record of that revision is true and proves nothing now.
    assert.equal(await redis.hget(hash, k('removed')), '100');
    assert.equal(await redis.hget(hash, k('untouched')), '100', 'its own marks are settled');
    await deposed.restore(old, keys);
    assert.deepEqual([await redis.hget(hash, k('rewritten')), await redis.hget(hash, k('remarked'))], ['200', '201'], 'nothing put back over them');
    await redis.del(hash);
  });

  test('a mark script run twice (the reply timed out, the call retried): one layer, and the record before it comes back', async () => {
    const key = `/${instance}/marked-twice`;
    await redis.hset(hash, key, '41');
    const marks = await store.markPending([key]);
    // What call() does on a timeout: the same script, the same token, again.
    const again = await (redis as unknown as Record<string, (...a: string[]) => Promise<number>>).zk2etcdMarkPending?.(hash, marks.token, key);
    assert.equal(again, 0, 'nothing marked twice');
    assert.equal(await redis.hget(hash, key), `pending:${marks.token}:41`, 'one layer, not two');
    await store.restore(marks, [key]);
    assert.equal(await redis.hget(hash, key), '41', 'the record before both runs is back: never a bare pending, never lost');
    await redis.hdel(hash, key);
  });

  test('a mark left by an earlier write of this process is not taken for a retry: the new write stacks its own', async () => {
    const key = `/${instance}/earlier-write`;
    await redis.hset(hash, key, '50');
    const first = await store.markPending([key]); // a write that failed (its outcome unknown) and left its mark
    const next = await store.markPending([key]);
    assert.equal(await redis.hget(hash, key), `pending:${next.token}:pending:${first.token}:50`);
    await store.restore(next, [key]);
    assert.equal(await redis.hget(hash, key), `pending:${first.token}:50`, 'the earlier write\'s mark stays: its outcome is unknown');
    await redis.hdel(hash, key);
  });

  test('two writes of one key at once: each acts on its own layer, wherever it sits', async () => {
    const key = `/${instance}/layers`;
    const other = redisOwnershipStore(redis, { instance, legacy: null });
    const creates = new Map([[key, null]]);
    // Both skipped (another tool created the key): neither leaves a mark that would claim it.
    const a = await other.markPending([key]);
    const b = await store.markPending([key]);
    assert.equal(await redis.hget(hash, key), `pending:${b.token}:pending:${a.token}:`);
    await other.restore(a, [key]);
    assert.equal(await redis.hget(hash, key), `pending:${b.token}:`);
    await store.restore(b, [key]);
    assert.equal(await redis.hget(hash, key), null, 'no record: the key is not ours');
    // The first one committed, the second skipped: the first's revision is the record.
    const c = await other.markPending([key]);
    const d = await store.markPending([key]);
    assert.equal(await other.recordRevision(c, creates, '300'), 0);
    assert.equal(await redis.hget(hash, key), `pending:${d.token}:300`);
    await store.restore(d, [key]);
    assert.equal(await redis.hget(hash, key), '300');
    // A record another run settled over our mark at the revision our write expected: ours replaces it.
    const e = await store.markPending([key]);
    await redis.hset(hash, key, '300'); // SETTLE_PENDING by a concurrent fix, which saw the key in sync
    await store.recordRevision(e, new Map([[key, '300']]), '301');
    assert.equal(await redis.hget(hash, key), '301');
    await redis.hdel(hash, key);
  });

  test('our layer gone and another write stacked on what was under it: the committed write still records its revision', async () => {
    const key = `/${instance}/pruned-then-stacked`;
    const other = redisOwnershipStore(redis, { instance, legacy: null });
    // A create: our mark pruned by another run (it saw no key and no znode), then another write marks it.
    const w = await store.markPending([key]);
    await redis.hdel(hash, key);
    const x = await other.markPending([key]);
    await store.recordRevision(w, new Map([[key, null]]), '400');
    assert.equal(await redis.hget(hash, key), `pending:${x.token}:400`);
    await other.restore(x, [key]);
    assert.equal(await redis.hget(hash, key), '400');
    // An update: another run settled the record at the revision we expected, then another write marks it.
    const w2 = await store.markPending([key]);
    await redis.hset(hash, key, '400');
    const x2 = await other.markPending([key]);
    await store.recordRevision(w2, new Map([[key, '400']]), '401');
    await other.restore(x2, [key]);
    assert.equal(await redis.hget(hash, key), '401');
    // A record another writer made meanwhile (a new leader's revision) is never replaced.
    const w3 = await store.markPending([key]);
    await redis.hset(hash, key, '500');
    await store.recordRevision(w3, new Map([[key, '401']]), '402');
    assert.equal(await redis.hget(hash, key), '500');
    await redis.hdel(hash, key);
  });

  test('settlePending settles only marks old enough to be left by a crash, never a write still in flight', async () => {
    const k = (s: string) => `/${instance}/settle/${s}`;
    const young = await store.markPending([k('in-flight')]);
    await store.markPending([k('left-behind')]);
    const backdated = ((await redis.hget(hash, k('left-behind'))) ?? '').replace(/^(pending:[0-9a-f]+\.\d+\.)\d+:/, '$11:');
    await redis.hset(hash, k('left-behind'), backdated, k('earlier-version'), 'pending:0123456789ab');
    const n = await store.settlePending(new Map([[k('in-flight'), '700'], [k('left-behind'), '701'], [k('earlier-version'), '702']]));
    assert.equal(n, 2);
    assert.deepEqual(await redis.hmget(hash, k('in-flight'), k('left-behind'), k('earlier-version')), [`pending:${young.token}:`, '701', '702']);
    // A young layer over an old one: still in flight.
    const over = await store.markPending([k('left-behind')]);
    await redis.hset(hash, k('left-behind'), `pending:${over.token}:${backdated}`);
    assert.equal(await store.settlePending(new Map([[k('left-behind'), '703']])), 0);
    await redis.del(hash);
  });

  test('settleFound: ours only if this instance recorded exactly the revision found under our layer; the layer goes either way', async () => {
    const k = (s: string) => `/${instance}/found/${s}`;
    await redis.hset(hash, k('recorded'), '600', k('older'), '590');
    const marks = await store.markPending([k('recorded'), k('older'), k('absent')]);
    const ours = await store.settleFound(marks, new Map([[k('recorded'), '600'], [k('older'), '601'], [k('absent'), '602']]));
    assert.deepEqual([...ours], [k('recorded')]);
    assert.deepEqual(await redis.hmget(hash, k('recorded'), k('older'), k('absent')), ['600', '590', null]);
    const again = await store.settleFound(marks, new Map([[k('recorded'), '600'], [k('older'), '601'], [k('absent'), '602']]));
    assert.deepEqual([...again], [k('recorded')], 'retried after a lost reply: the same answer');
    await redis.hdel(hash, k('recorded'), k('older'));
  });

  test('a mark lost before the revision is recorded (Redis restarted without persistence): recorded, and counted', async () => {
    const keys = [`/${instance}/lost`, `/${instance}/kept`];
    const marks = await store.markPending(keys);
    await redis.hdel(hash, keys[0] as string);
    assert.equal(await store.recordRevision(marks, new Map(keys.map((k) => [k, null])), '77'), 1);
    assert.deepEqual(await redis.hmget(hash, ...keys), ['77', '77']);
    await redis.hdel(hash, ...keys);
  });

  test('after a delete, forget removes a record at the deleted revision or pending, never one recorded since', async () => {
    const k = (s: string) => `/${instance}/forget/${s}`;
    const left = await store.markPending([k('left-pending')]); // a write that gave up, its mark left in place
    await redis.hset(hash, k('ours'), '7', k('rewritten'), '9', k('old-form'), 'pending');
    assert.equal(await redis.hget(hash, k('left-pending')), `pending:${left.token}:`);
    const deleted = [k('ours'), k('rewritten'), k('old-form'), k('left-pending'), k('never-recorded')];
    await store.forget(new Map(deleted.map((key) => [key, '7'])));
    // A mark left in place would prove ownership of whatever another tool writes under the key next.
    assert.deepEqual(await redis.hgetall(hash), { [k('rewritten')]: '9' });
    await redis.del(hash);
  });
});

/** A fix that starts with no records at all (a first copy) skips the record repairs. */
describe('Redis ownership store: isEmpty', () => {
  const instance = freshName('ownership-empty');
  const hash = ownershipHashKey(instance);
  const redis = testRedis();

  after(async () => {
    await redis.del(hash);
    redis.disconnect();
  });

  test('true with no record, false with one; always false when zk2etcd 1.x records are accepted', async () => {
    const store = redisOwnershipStore(redis, { instance, legacy: null });
    assert.equal(await store.isEmpty(), true);
    const marks = await store.markPending([`/${instance}/a`]);
    await store.recordRevision(marks, new Map([[`/${instance}/a`, null]]), '5');
    assert.equal(await store.isEmpty(), false);
    await store.forget(new Map([[`/${instance}/a`, '5']]));
    assert.equal(await store.isEmpty(), true);
    const withLegacy = redisOwnershipStore(redis, { instance, legacy: redis });
    assert.equal(await withLegacy.isEmpty(), false, 'legacy records cannot be counted cheaply: never claimed empty');
  });
});

/** The real client, with every HSCAN after the first failing: Redis going away in the middle of a scan. */
function failingAfterFirstPage(redis: Redis, message: string): { client: Redis; calls: () => number } {
  let calls = 0;
  const client = new Proxy(redis, {
    get(target, prop, receiver) {
      if (prop !== 'hscan') return Reflect.get(target, prop, receiver);
      return (...args: Parameters<typeof target.hscan>) => {
        calls++;
        return calls === 1 ? target.hscan(...args) : Promise.reject(new Error(message));
      };
    },
  });
  return { client, calls: () => calls };
}

/** The scan a fix ends with (stale and unsettled records): every record once, over many HSCAN pages. */
describe('Redis ownership store: scan', () => {
  const instance = freshName('ownership-scan');
  const hash = ownershipHashKey(instance);
  const redis = testRedis();
  const keys = Array.from({ length: 5000 }, (_, i) => `/${instance}/scan/${'y'.repeat(900)}/${i}`);
  const valueOf = (i: number) => (i % 7 === 0 ? 'pending' : String(5000 + i));

  before(async () => {
    const fields: string[] = [];
    keys.forEach((key, i) => fields.push(key, valueOf(i)));
    await redis.hset(hash, ...fields);
  });

  after(async () => {
    await redis.del(hash);
    redis.disconnect();
  });

  test('5,000 records of ~1 KB keys (many pages): the filter sees each once with its value; exactly the kept ones come back', async () => {
    const store = redisOwnershipStore(redis, { instance, legacy: null });
    const seen = new Map<string, number>();
    const kept = await store.scan((key, value) => {
      seen.set(key, (seen.get(key) ?? 0) + 1);
      assert.equal(value, valueOf(Number(key.slice(key.lastIndexOf('/') + 1))), `value of ${key.slice(-6)}`);
      return value === 'pending';
    });
    assert.equal(seen.size, keys.length, 'every record reached the filter');
    assert.ok([...seen.values()].every((n) => n === 1), 'no record twice');
    const expected = keys.filter((_, i) => valueOf(i) === 'pending');
    assert.deepEqual([...kept.keys()].sort(), [...expected].sort());
    assert.ok([...kept.values()].every((v) => v === 'pending'));
  });

  test('a page that fails after the first (fetched while the previous one is filtered) fails the scan; no records are returned as if complete', async () => {
    const flaky = failingAfterFirstPage(redis, 'Connection is closed.');
    const store = redisOwnershipStore(flaky.client, { instance, legacy: null });
    let filtered = 0;
    await assert.rejects(
      store.scan(() => {
        filtered++;
        return true;
      }),
      (err: Error) => err instanceof OwnershipUnavailableError && /scan failed: Connection is closed/.test(err.message),
    );
    assert.ok(filtered > 0 && filtered < keys.length, `only the first page was filtered (${filtered})`);
    assert.ok(flaky.calls() >= 2, 'the next page was asked for');
  });

  test('a filter that throws fails the scan with its own error, and the page already asked for is not left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const failing = failingAfterFirstPage(redis, 'second page lost');
      const store = redisOwnershipStore(failing.client, { instance, legacy: null });
      await assert.rejects(
        store.scan(() => {
          throw new Error('filter broke');
        }),
        /filter broke/,
      );
      // Let the prefetched page's retries run out (3 attempts, up to ~0.6 s of back-off) and settle.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.ok(failing.calls() >= 2, 'the next page was asked for before the filter threw');
      assert.deepEqual(unhandled, [], 'no unhandled rejection');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

/** The database in --redis-server's path: one the server does not have is refused, never replaced by DB 0. */
describe('Redis ownership store: the database', () => {
  const name = freshName('redis-db');

  test('a database out of the server\'s range: connectRedis refuses it, naming the reason; a fix writes nothing', async () => {
    const url = `redis://${servers.redis}/99`;
    // Clients that did connect are closed, so a regression fails here instead of holding the process open.
    const outcome = await connectRedis({ url, username: null, password: null, tls: false }, false).then(
      async (clients) => (await clients.close(), null),
      (err: Error) => err,
    );
    assert.ok(outcome !== null, 'connected to a database the server does not have');
    assert.ok(isRedisConfigRefused(outcome), 'refused for good, not retried');
    assert.match(outcome.message, /refused the connection: ERR DB index is out of range.*--redis-server and its \/db/);
    const root = `/${name}`;
    const [zk, etcd, redis] = [await testZk(), testEtcd(), testRedis()];
    try {
      await zk.createAll([[root, Buffer.from('r')], [`${root}/a`, Buffer.from('a')]]);
      const r = await runCli(['fix', `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, `--redis-server=${url}`]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /DB index is out of range/);
      assert.equal(await redis.exists(ownershipHashKey(name)), 0, 'no records written to DB 0');
      assert.deepEqual(await etcd.get(root).string(), null, 'nothing written to etcd');
    } finally {
      await cleanupRoot({ zk, etcd, redis, root, instance: name });
    }
  });
});

describe('Redis ownership store: the database after a reconnect', () => {
  test('a server restarted without our database: the connection closes (commands fail) instead of writing to DB 0', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-redis-db-'));
    let child: ChildProcess | null = null;
    const start = async (databases: number) => {
      child = spawnClean('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--databases', String(databases)], { stdio: 'ignore' });
      for (let i = 0; i < 100 && !(await redisAnswers(port).catch(() => false)); i++) await sleep(100);
    };
    const stop = async () => {
      const c = child as ChildProcess | null;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    };
    const admin = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
    admin.on('error', () => {});
    let clients: RedisClients | null = null;
    try {
      await start(16);
      clients = await connectRedis({ url: `redis://127.0.0.1:${port}/5`, username: null, password: null, tls: false }, false);
      const store = redisOwnershipStore(clients.main, { instance: 'db-test', legacy: null });
      await store.markPending(['/before']);
      await stop();
      await start(2); // DB 5 no longer exists
      await eventually(async () => assert.equal(clients?.main.status, 'end'), 20_000);
      await assert.rejects(store.markPending(['/after']), OwnershipUnavailableError);
      await admin.connect();
      assert.deepEqual(await admin.keys('*'), [], 'nothing written to DB 0');
    } finally {
      await clients?.close();
      admin.disconnect();
      await stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
