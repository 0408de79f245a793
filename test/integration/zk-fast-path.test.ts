import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ZkError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { connectZk } from '../../common/zk/addon-client.js';
import type { ZkConnection } from '../../common/zk/addon-client.js';
import { ZkReplyTooLargeError } from '../../common/zk/connection.js';
import { connectZkFast, FastPathUnsupportedError } from '../../common/zk/fast-client.js';
import type { FastZkConnection, FastZkOptions } from '../../common/zk/fast-client.js';
import type { BatchRead, ZkBatchReader, ZkNode, ZkReader } from '../../common/zk/reader.js';
import { walkTree } from '../../common/zk/walk.js';
import type { ZkTree } from '../../common/zk/walk.js';
import { dubboTree } from '../helpers/dubbo.js';
import { authedZk, describeRun, runCliBounded } from '../helpers/secure-servers.js';
import type { AuthedZk } from '../helpers/secure-servers.js';
import { cleanupRoot, etcdDump, freshName, jsonReport, servers, testEtcd, testRedis, testZk, zkDump } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';
import { zkProxy } from '../helpers/zk-proxy.js';
import type { ZkProxy } from '../helpers/zk-proxy.js';

const logger = silentLogger();
const KB = 1024;

/** Both trees, key by key and byte for byte; a short description of the first differences, or ''. */
function treeDiff(want: ReadonlyMap<string, Buffer>, got: ReadonlyMap<string, Buffer>): string {
  const missing = [...want.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !want.has(k));
  const differ = [...want.keys()].filter((k) => got.has(k) && !(got.get(k) as Buffer).equals(want.get(k) as Buffer));
  if (missing.length + extra.length + differ.length === 0) return '';
  return `missing ${missing.length} [${missing.slice(0, 3).join(' | ')}]; extra ${extra.length} [${extra.slice(0, 3).join(' | ')}]; differ ${differ.length} [${differ.slice(0, 3).join(' | ')}]`;
}

function assertSameTree(want: ReadonlyMap<string, Buffer>, got: ReadonlyMap<string, Buffer>, what: string): void {
  const d = treeDiff(want, got);
  assert.equal(d, '', `${what}: ${d}`);
}

/** The entries of `tree` at or under `prefix`. */
function subtree(tree: ReadonlyMap<string, Buffer>, prefix: string): Map<string, Buffer> {
  return new Map([...tree].filter(([k]) => k === prefix || k.startsWith(`${prefix}/`)));
}

const walkOpts = (prefixes: readonly string[], skipEphemeral = false) => ({
  prefixes,
  excludes: [],
  skipEphemeral,
  allowEmptySource: false,
  concurrency: 50,
  keyOf: (p: string) => p,
});

const walk = (reader: ZkReader, prefixes: readonly string[], skipEphemeral = false): Promise<ZkTree> => walkTree(reader, walkOpts(prefixes, skipEphemeral));

/** Every protocol-client session a test opened: closed in `after` even when the test failed (close is idempotent). */
const opened: FastZkConnection[] = [];

async function fast(extra: Partial<FastZkOptions> = {}): Promise<FastZkConnection> {
  const conn = await connectZkFast({ servers: [servers.zk], sessionTimeoutMs: 20_000, auth: null, logger, ...extra });
  opened.push(conn);
  return conn;
}

/** `conn` as a batch reader that counts its batches and those refused for their size (ZkReplyTooLargeError). */
function countingRefusals(conn: FastZkConnection): { reader: ZkBatchReader; batches: number; refused: number } {
  const counts = { batches: 0, refused: 0 };
  const reader: ZkBatchReader = {
    batchReads: true,
    maxBatchReplyBytes: conn.maxBatchReplyBytes,
    get: (path) => conn.get(path),
    children: (path) => conn.children(path),
    readMany: async (ops) => {
      counts.batches++;
      try {
        return await conn.readMany(ops);
      } catch (err) {
        if (err instanceof ZkReplyTooLargeError) counts.refused++;
        throw err;
      }
    },
  };
  return Object.assign(counts, { reader });
}

/** Resolves to what a promise settled with, so a test can assert "an error, never a value". */
async function settle<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

function assertZkError(outcome: { value: unknown } | { error: unknown }, codes: readonly number[], what: string): ZkError {
  assert.ok('error' in outcome, `${what}: expected a ZkError, got the value ${JSON.stringify('value' in outcome ? outcome.value : null)}`);
  const err = outcome.error;
  assert.ok(err instanceof ZkError, `${what}: expected a ZkError, got ${String(err)}`);
  assert.ok(codes.includes(err.code), `${what}: code ${err.code} (${err.message}), expected one of ${codes.join(', ')}`);
  return err;
}

/**
 * Issue #7: the protocol-level ZooKeeper client (multiRead walks, persistent recursive watches) against
 * the real ZooKeeper 3.8, checked against the addon client the way zetcd's checking mode checks a
 * proxy against the real server: same trees, same bytes, same stats; and its protocol edges (a cut
 * connection mid-batch, session expiry, replies past the packet limit, ACLs, a server without multiRead).
 */
describe('ZooKeeper fast path (protocol client) against the real server', () => {
  const name = freshName('fast');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  const credentials = `fast:pw-${name}`;
  let zk: TestZk;
  let authed: AuthedZk | null = null;
  let addon: ZkConnection;
  let fastZk: FastZkConnection;
  const proxies: ZkProxy[] = [];
  const watchers: WatcherProcess[] = [];
  const extraInstances = [`${name}-off`, `${name}-on`, `${name}-pre36`];

  /** Everything created under the root, with its data: the ground truth both clients must return. */
  const expected = new Map<string, Buffer>();
  const dubbo = `${root}/dubbo`;
  const big = `${root}/big`;
  const bigPaths = [0, 1, 2, 3, 4].map((i) => `${big}/v${i}`);
  const wide = `${root}/wide`;
  const cjk = `${root}/cjk`;
  const mixed = `${root}/mixed`;
  const ephemeral = `${root}/misc/ephemeral`;
  const binaryValues: [string, Buffer][] = [
    [`${root}/misc/nul`, Buffer.from([0, 0, 0x61, 0, 0])],
    [`${root}/misc/lone-nul`, Buffer.from([0])],
    [`${root}/misc/invalid-utf8`, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc, 0x80])],
    [`${root}/misc/all-bytes`, Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
  ];
  const nameLeaves = ['服务-ü-é', 'with space', ' leading and trailing ', 'a%2Fb%2Fc', 'dubbo%3A%2F%2F10.0.0.1%3A20880%2Fx%3Fa%3Db', 'dots..and...dots'].map((n) => `${root}/names/${n}`);
  let deepest = '';
  /** The tricky paths every per-node comparison includes. */
  const tricky: string[] = [];

  before(async () => {
    zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.from('root')]];
    nodes.push(...dubboTree(dubbo, 100, 80, 20)); // 10,501 nodes
    nodes.push([`${root}/misc`, Buffer.alloc(0)], ...binaryValues);
    nodes.push([`${root}/misc/empty`, Buffer.alloc(0)], [`${root}/misc/empty/child`, Buffer.alloc(0)], [`${root}/misc/versioned`, Buffer.from('v0')]);
    nodes.push([big, Buffer.from('five values of 900 KB below')]);
    for (const p of bigPaths) nodes.push([p, randomBytes(900 * KB)]);
    nodes.push([`${root}/names`, Buffer.alloc(0)]);
    for (const p of nameLeaves) nodes.push([p, Buffer.from(p)]);
    let deep = `${root}/deep`;
    for (let i = 0; i < 40; i++) {
      nodes.push([deep, Buffer.from(`depth ${i}`)]);
      deepest = deep;
      deep += `/d${i} %2F x`;
    }
    nodes.push([wide, Buffer.alloc(0)]);
    // 1,000 siblings, every tenth with 20 KB of data, the rest empty: one depth, two very different sizes.
    nodes.push([mixed, Buffer.alloc(0)]);
    for (let i = 0; i < 1000; i++) nodes.push([`${mixed}/n${String(i).padStart(4, '0')}`, i % 10 === 0 ? randomBytes(20 * KB) : Buffer.alloc(0)]);
    // 40 lists of 40 names of 200 CJK characters: 600 bytes each in UTF-8 (a reply of ~24 KB per list), 200 in UTF-16.
    nodes.push([cjk, Buffer.alloc(0)]);
    for (let i = 0; i < 40; i++) {
      nodes.push([`${cjk}/服务${i}`, Buffer.alloc(0)]);
      for (let j = 0; j < 40; j++) nodes.push([`${cjk}/服务${i}/${String(j).padStart(2, '0')}${'消费者提供者'.repeat(33)}`, Buffer.from(`${i}.${j}`)]);
    }
    // 20,000 names of 61 characters: the child list alone (about 1.3 MB) is past 1 MiB.
    for (let i = 0; i < 20_000; i++) nodes.push([`${wide}/${String(i).padStart(6, '0')}-${'n'.repeat(54)}`, Buffer.alloc(0)]);
    await zk.createAll(nodes, 400);
    for (const [p, d] of nodes) expected.set(p, d);
    for (const v of ['v1', 'v2', 'v3']) await zk.set(`${root}/misc/versioned`, Buffer.from(v));
    expected.set(`${root}/misc/versioned`, Buffer.from('v3'));
    await zk.create(ephemeral, Buffer.from('owned by the test session'), true);
    expected.set(ephemeral, Buffer.from('owned by the test session'));
    const aProvider = [...expected.keys()].find((k) => k.includes('/providers/')) as string;
    tricky.push(root, dubbo, `${dubbo}/com.example.service.Service7/providers`, aProvider, ...binaryValues.map(([p]) => p));
    tricky.push(`${root}/misc/empty`, `${root}/misc/empty/child`, `${root}/misc/versioned`, ephemeral, big, ...bigPaths);
    tricky.push(`${root}/names`, ...nameLeaves, `${root}/deep`, deepest, wide, `${wide}/019999-${'n'.repeat(54)}`);
    addon = await connectZk({ servers: [servers.zk], sessionTimeoutMs: 20_000, auth: null, logger });
    fastZk = await fast();
  });

  after(async () => {
    for (const w of watchers) await w.stop();
    addon?.close();
    for (const conn of opened) conn.close();
    for (const p of proxies) await p.close();
    // The protected subtree can only be removed by its digest user.
    await authed?.removeTree(`${root}/acl`);
    authed?.close();
    for (const i of extraInstances) await redis.del(`zk2etcd:{${i}}:owned`);
    // The etcd prefixes of the two watchers (`${root}-off`, `${root}-on`) start with the root too.
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  describe('cross-check against the addon client (zetcd-style checking)', () => {
    test('walkTree over both clients returns the same keys and bytes, and exactly what was written', async () => {
      const [a, f] = await Promise.all([walk(addon, [root]), walk(fastZk, [root])]);
      assert.equal(a.size, expected.size, 'the addon walk sees every node');
      assertSameTree(a, f, 'fast walk vs addon walk');
      assertSameTree(expected, f, 'fast walk vs what was written');
      for (const p of bigPaths) assert.equal(f.get(p)?.length, 900 * KB);
      assert.equal(subtree(f, wide).size, 20_001);
      assert.ok(subtree(f, dubbo).size > 10_000);
    });

    test('skipEphemeral leaves the ephemeral node out on both clients alike', async () => {
      const prefixes = [`${root}/misc`, `${root}/names`];
      const [a, f] = await Promise.all([walk(addon, prefixes, true), walk(fastZk, prefixes, true)]);
      assertSameTree(a, f, 'fast vs addon, skipEphemeral');
      assert.equal(f.has(ephemeral), false);
      assert.equal(f.has(`${root}/misc/nul`), true);
    });

    test('get and children agree on data, ephemeral, numChildren, version, mzxid and the child-list stamp', async () => {
      const all = [...expected.keys()];
      const sample = [...tricky];
      for (let i = 0; i < all.length; i += 97) sample.push(all[i] as string);
      const missing = [`${root}/no-such-node`, `${root}/misc/nul/no-such-child`];
      for (const path of [...sample, ...missing]) {
        const [a, f] = await Promise.all([addon.get(path), fastZk.get(path)]);
        assert.deepStrictEqual(f, a, `get ${path}`);
        const [ac, fc] = await Promise.all([addon.children(path), fastZk.children(path)]);
        assert.deepStrictEqual(fc?.sort() ?? null, ac?.sort() ?? null, `children ${path}`);
      }
      const eph = (await fastZk.get(ephemeral)) as ZkNode;
      assert.equal(eph.ephemeral, true);
      assert.equal(((await fastZk.get(`${root}/misc/versioned`)) as ZkNode).version, 3);
      assert.equal(((await fastZk.get(`${root}/misc/empty`)) as ZkNode).data.length, 0);
      assert.equal(((await fastZk.get(`${root}/misc/empty`)) as ZkNode).numChildren, 1);
      assert.equal((await fastZk.children(wide))?.length, 20_000);
      assert.equal(((await fastZk.get(wide)) as ZkNode).childList.cversion, 20_000);
      assert.deepStrictEqual(((await fastZk.get(wide)) as ZkNode).childList, ((await addon.get(wide)) as ZkNode).childList);
      for (const p of missing) {
        assert.equal(await fastZk.get(p), null);
        assert.equal(await fastZk.children(p), null);
      }
    });

    test('readMany gives per op what get and children give, absent nodes as null', async () => {
      const paths = tricky.filter((p) => !bigPaths.includes(p) && p !== wide);
      const ops: BatchRead[] = [];
      for (const path of [...paths, `${root}/no-such-node`]) ops.push({ kind: 'data', path }, { kind: 'children', path });
      const results = await fastZk.readMany(ops);
      assert.equal(results.length, ops.length);
      for (const [i, op] of ops.entries()) {
        const want = op.kind === 'data' ? await addon.get(op.path) : await addon.children(op.path);
        const got = results[i];
        assert.ok(!(got instanceof ZkError), `${op.kind} ${op.path}: ${String(got)}`);
        if (Array.isArray(want)) assert.deepStrictEqual([...(got as string[])].sort(), [...want].sort(), `children ${op.path}`);
        else assert.deepStrictEqual(got, want, `${op.kind} ${op.path}`);
      }
      assert.equal(results.at(-1), null);
      assert.equal(results.at(-2), null);
    });
  });

  describe('two watchers on one prefix: the fast path and --zookeeper-fast-path=off', () => {
    const w = `${root}/w`;
    const prefixOff = `${root}-off`;
    const prefixOn = `${root}-on`;
    let off: WatcherProcess;
    let on: WatcherProcess;
    /** Divergences of the off watcher in the delete-and-re-create rounds (checked by the next test). */
    const offMissed: string[] = [];

    /** etcd under `prefix + w`, keyed by ZooKeeper path. */
    const mirror = async (prefix: string, under = w) => {
      const out = new Map<string, Buffer>();
      for (const [k, v] of await etcdDump(etcd, prefix + under)) {
        const path = k.slice(prefix.length);
        if (path === under || path.startsWith(`${under}/`)) out.set(path, v);
      }
      return out;
    };
    /** Waits until both watchers' etcd contents equal ZooKeeper under `under`; the error names either. */
    const converged = (under = w, timeoutMs = 40_000, checkOff = true) =>
      eventually(
        async () => {
          const [want, gotOff, gotOn] = await Promise.all([zkDump(under), mirror(prefixOff, under), mirror(prefixOn, under)]);
          const dOn = treeDiff(want, gotOn);
          const dOff = checkOff ? treeDiff(want, gotOff) : '';
          if (dOn || dOff) throw new Error(`etcd differs from ZooKeeper under ${under}: fast path: ${dOn || 'same'}; off: ${dOff || 'same'}`);
        },
        timeoutMs,
        250,
      );

    before(async () => {
      await zk.createAll(dubboTree(w, 5, 10, 5));
      await zk.create(`${w}/binary`, Buffer.from([0, 0xff, 0]));
      const flags = [`--zookeeper-prefix=${w}`, '--zookeeper-exclude-prefix=', '--zookeeper-session-timeout=10s'];
      off = await startWatcher([...flags, '--zookeeper-fast-path=off', `--etcd-prefix=${prefixOff}`, `--instance=${name}-off`]);
      watchers.push(off);
      on = await startWatcher([...flags, `--etcd-prefix=${prefixOn}`, `--instance=${name}-on`]);
      watchers.push(on);
      await Promise.all([waitForLog(off, 'full reconcile done'), waitForLog(on, 'full reconcile done')]);
    });

    after(async () => {
      await off?.stop();
      await on?.stop();
    });

    test('both load the same tree, one with a recursive watch and one with one-shot watches', async () => {
      const watches = async (proc: WatcherProcess) => Number(/^zk2etcd_watches (\d+)/m.exec(await (await fetch(`${proc.url}/metrics`)).text())?.[1]);
      await eventually(async () => {
        assert.equal(await watches(on), 1, 'default: one persistent recursive watch for the prefix');
        assert.ok((await watches(off)) > 100, 'off: one-shot watches on every node');
      });
      await converged();
    });

    test('creates, rapid sets, deletes, a deep burst and a re-created subtree converge identically', { timeout: 120_000 }, async () => {
      // Round 1: creates, rapid sets, deletes, a deep subtree in one burst, binary and empty data.
      await zk.create(`${w}/new`, Buffer.from('a1'));
      for (const v of ['a2', 'a3', 'a4']) await zk.set(`${w}/new`, Buffer.from(v));
      await zk.set(`${w}/com.example.service.Service0`, Buffer.from([0, 0xff, 0xfe, 0]));
      await zk.set(`${w}/binary`, Buffer.alloc(0));
      const providers = `${w}/com.example.service.Service2/providers`;
      for (const leaf of (await zk.children(providers)).slice(0, 4)) await zk.remove(`${providers}/${leaf}`);
      let deep = `${w}/deep`;
      const burst: Promise<void>[] = [];
      for (let i = 0; i < 15; i++) {
        burst.push(zk.create(deep, Buffer.from(`level ${i}`)));
        deep += `/l${i} %2F ü`;
      }
      await Promise.all(burst);
      await zk.create(deep, Buffer.from('leaf below the burst'));
      await zk.create(`${w}/names`, Buffer.alloc(0));
      await Promise.all(['服务 a', 'b%2Fc', ' sp '].map((n) => zk.create(`${w}/names/${n}`, Buffer.from(n))));
      const many: [string, Buffer][] = [[`${w}/many`, Buffer.alloc(0)]];
      for (let i = 0; i < 300; i++) many.push([`${w}/many/m${i}`, Buffer.from(`m${i}`)]);
      await zk.createAll(many, 100);
      await zk.create(`${w}/eph`, Buffer.from('ephemeral'), true);
      await converged();

      // Round 2: a subtree deleted (and seen deleted), then re-created with other contents; bulk deletes.
      const s1 = `${w}/com.example.service.Service1`;
      await zk.removeTree(s1);
      await zk.remove(`${w}/eph`);
      await zk.removeTree(`${w}/many`);
      await converged();
      await zk.createAll([[s1, Buffer.from('recreated')], [`${s1}/providers`, Buffer.from('p')], [`${s1}/providers/only`, Buffer.from('one')]]);
      await zk.set(`${w}/new`, Buffer.from('final'));
      await converged();

      const [gotOff, gotOn] = await Promise.all([mirror(prefixOff), mirror(prefixOn)]);
      assertSameTree(gotOff, gotOn, 'etcd of the two watchers, prefixes stripped');
      assert.equal(gotOn.get(s1)?.toString(), 'recreated');
      assert.equal(gotOn.get(`${w}/new`)?.toString(), 'final');
      assert.equal(gotOn.get(deep)?.toString(), 'leaf below the burst');
      assert.equal(gotOn.has(`${w}/eph`), false);
      assert.equal(gotOn.has(`${w}/many/m1`), false);
    });

    test('a subtree deleted and at once re-created is followed by the fast-path watcher', { timeout: 120_000 }, async () => {
      const onMissed: string[] = [];
      for (let r = 0; r < 3; r++) {
        // Four subtrees and a leaf per round, each deleted and re-created with no pause in between:
        // the re-reads after the delete events race with the re-creation.
        const subtrees = [0, 1, 2, 3].map((k) => `${w}/again${r}-${k}`);
        const flap = `${w}/flap${r}`;
        for (const s of subtrees) {
          await zk.createAll([[s, Buffer.from(`first ${r}`)], [`${s}/p`, Buffer.from('p')], ...Array.from({ length: 20 }, (_, i): [string, Buffer] => [`${s}/p/c${i}`, Buffer.from(`c${i}`)])]);
        }
        await zk.create(flap, Buffer.from('x'));
        await converged(w, 40_000, offMissed.length === 0);
        await Promise.all([
          ...subtrees.map(async (s) => {
            await zk.removeTree(s);
            await zk.createAll([[s, Buffer.from(`again ${r}`)], [`${s}/p`, Buffer.from('p2')], [`${s}/p/only`, Buffer.from('one')]]);
          }),
          zk.remove(flap).then(() => zk.create(flap, Buffer.from('y'))),
        ]);
        const deadline = Date.now() + 5000;
        for (;;) {
          const want = await zkDump(w);
          const dOn = treeDiff(want, await mirror(prefixOn));
          const dOff = offMissed.length > 0 ? '' : treeDiff(want, await mirror(prefixOff));
          if (!dOn && !dOff) break;
          if (Date.now() > deadline) {
            if (dOn) onMissed.push(`round ${r}: ${dOn}`);
            if (dOff) offMissed.push(`round ${r}: ${dOff}`);
            break;
          }
          await sleep(250);
        }
        if (onMissed.length > 0) break;
      }
      assert.deepEqual(onMissed, [], 'the fast-path watcher follows every re-creation');
      for (const proc of [off, on]) assert.equal(proc.child.exitCode, null, `a watcher died: ${proc.output().slice(-2000)}`);
    });

    test('the same with --zookeeper-fast-path=off (the one-shot-watch mirror)', () => {
      assert.deepEqual(offMissed, [], 'the off watcher follows every re-creation');
    });
  });

  describe('protocol edges', () => {
    test('a connection cut mid-walk: reads are retried on the same session and the walk is complete', async () => {
      const proxy = await zkProxy();
      proxies.push(proxy);
      let reconnects = 0;
      let lost = 0;
      const viaProxy = await fast({ servers: [proxy.address], sessionTimeoutMs: 10_000, onReconnect: () => reconnects++, onSessionLost: () => lost++ });
      // Counts what the walk's batches saw: a cut fails the batches in flight with a retryable
      // connection loss, and the walk retries them on the same session.
      const failures: ZkError[] = [];
      const counted: ZkBatchReader = {
        batchReads: true,
        maxBatchReplyBytes: viaProxy.maxBatchReplyBytes,
        get: (p) => viaProxy.get(p),
        children: (p) => viaProxy.children(p),
        readMany: (ops) =>
          viaProxy.readMany(ops).catch((err: unknown) => {
            if (err instanceof ZkError) failures.push(err);
            throw err;
          }),
      };
      const start = proxy.downstreamBytes;
      let walking = true;
      let cutWhileWalking = 0;
      // Cut twice while reply bytes are flowing (the walk moves about 12 MB): after 1 MB, and after another
      // 1.5 MB on the connection that replaced the first. Counted from the cut, not from the chunk that
      // crossed the mark: many chunks may be forwarded before the cut runs.
      let next = start + 1_000_000;
      let scheduled = false;
      proxy.onDownstream((total) => {
        if (scheduled || cutWhileWalking >= 2 || total < next) return;
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          if (!walking) return;
          cutWhileWalking++;
          proxy.cutAll();
          next = proxy.downstreamBytes + 1_500_000;
        });
      });
      const tree = await walk(counted, [dubbo]).finally(() => (walking = false));
      proxy.onDownstream(null);
      assert.equal(cutWhileWalking, 2, `both cuts happened during the walk (walk moved ${proxy.downstreamBytes - start} bytes)`);
      assertSameTree(subtree(expected, dubbo), tree, 'walk across two cuts');
      assert.ok(failures.length >= 2, `batches in flight failed at the cuts (${failures.length})`);
      for (const f of failures) {
        assert.equal(f.code, -4, f.message);
        assert.equal(f.retryable, true);
      }
      assert.equal(reconnects, 2, 'onReconnect fired on each reconnect');
      assert.equal(lost, 0, 'the session survived');
      assert.ok(proxy.accepted >= 3);
      assert.deepStrictEqual(await viaProxy.get(ephemeral), await addon.get(ephemeral), 'same session still reads');
      viaProxy.close();
    });

    test('tree-watch events keep arriving after a cut: the watch is re-registered, onReconnect fires', async () => {
      const proxy = await zkProxy();
      proxies.push(proxy);
      const events: string[] = [];
      let reconnects = 0;
      const watched = `${root}/watched`;
      const viaProxy = await fast({ servers: [proxy.address], sessionTimeoutMs: 10_000, onTreeEvent: (p) => events.push(p), onReconnect: () => reconnects++ });
      await viaProxy.watchTree(watched); // not there yet: a recursive watch covers later creation
      await zk.create(watched, Buffer.from('w0'));
      await zk.create(`${watched}/a`, Buffer.from('a'));
      await eventually(async () => assert.deepEqual(events, [watched, `${watched}/a`]), 10_000);

      proxy.cutAll();
      await eventually(async () => assert.equal(reconnects, 1), 10_000);
      // Replies come in order: once this read is answered, the setWatches2 sent before it was applied.
      await viaProxy.get('/');
      events.length = 0;
      await zk.create(`${watched}/a/b`, Buffer.from('b'));
      await zk.set(`${watched}/a`, Buffer.from('a2'));
      await zk.remove(`${watched}/a/b`);
      await eventually(async () => assert.deepEqual(events, [`${watched}/a/b`, `${watched}/a`, `${watched}/a/b`]), 10_000);

      // A second cut, and events still arrive.
      proxy.cutAll();
      await eventually(async () => assert.equal(reconnects, 2), 10_000);
      await viaProxy.get('/');
      events.length = 0;
      await zk.set(watched, Buffer.from('w1'));
      await eventually(async () => assert.deepEqual(events, [watched]), 10_000);
      viaProxy.close();
    });

    test('session expiry during a partition: onSessionLost fires and every request fails with a ZkError, never absent', { timeout: 60_000 }, async () => {
      const proxy = await zkProxy();
      proxies.push(proxy);
      let lost = 0;
      const viaProxy = await fast({ servers: [proxy.address], sessionTimeoutMs: 4000, onSessionLost: () => lost++ });
      const nul = `${root}/misc/nul`;
      assert.deepEqual((await viaProxy.get(nul))?.data, expected.get(nul));

      proxy.hold(true); // sockets stay open, nothing passes: the server hears nothing for longer than 4 s
      const during = settle(viaProxy.get(nul));
      await sleep(3500); // the client gave up on the silent connection (2/3 of the timeout) and is reconnecting
      const whileReconnecting = settle(viaProxy.readMany([{ kind: 'data', path: nul }, { kind: 'children', path: root }]));
      await sleep(3500);
      assert.equal(lost, 0, 'nothing told the client yet');
      proxy.hold(false);
      await eventually(async () => assert.equal(lost, 1, 'onSessionLost fired'), 15_000);

      assertZkError(await during, [-4, -112, -116], 'a get sent before the partition');
      assertZkError(await whileReconnecting, [-4, -112, -116], 'a readMany sent while reconnecting');
      assertZkError(await settle(viaProxy.get(nul)), [-112, -116], 'get after expiry');
      assertZkError(await settle(viaProxy.get(`${root}/no-such-node`)), [-112, -116], 'get of an absent node after expiry');
      assertZkError(await settle(viaProxy.children(root)), [-112, -116], 'children after expiry');
      assertZkError(await settle(viaProxy.readMany([{ kind: 'data', path: nul }])), [-112, -116], 'readMany after expiry');
      assertZkError(await settle(viaProxy.watchTree(root)), [-112, -116], 'watchTree after expiry');
      assertZkError(await settle(walk(viaProxy, [`${root}/misc`])), [-112, -116], 'walkTree after expiry');
      assert.equal(lost, 1);
      viaProxy.close();
    });

    test('a multiRead reply past the packet limit: ZkReplyTooLargeError, and walkTree splits it and returns every byte', async () => {
      const ops: BatchRead[] = bigPaths.map((path) => ({ kind: 'data', path }));
      const err = (await settle(fastZk.readMany(ops))) as { error: unknown };
      assert.ok('error' in err, 'five 900 KB values in one reply must be refused');
      assert.ok(err.error instanceof ZkReplyTooLargeError, String(err.error));
      assert.ok(err.error.bytes > 5 * 900 * KB, `reply size ${err.error.bytes}`);
      // The skipped reply left the connection in step: the next replies are the right ones.
      const [one, small] = await Promise.all([fastZk.readMany([{ kind: 'data', path: bigPaths[1] as string }]), fastZk.get(`${root}/misc/nul`)]);
      assert.ok((one[0] as ZkNode).data.equals(expected.get(bigPaths[1] as string) as Buffer));
      assert.ok(small?.data.equals(expected.get(`${root}/misc/nul`) as Buffer));

      assertSameTree(subtree(expected, big), await walk(fastZk, [big]), 'walk of the 900 KB values (default limit)');
      // With a limit below a single value, batches go down to one op, which is never refused.
      const tight = await fast({ maxBatchReplyBytes: 256 * KB });
      try {
        assertSameTree(subtree(expected, big), await walk(tight, [big]), 'walk of the 900 KB values (256 KB limit)');
        assertSameTree(subtree(expected, `${root}/misc`), await walk(tight, [`${root}/misc`]), 'small values under a 256 KB limit');
      } finally {
        tight.close();
      }
    });

    test('batches are sized by the reply sizes on the wire: lists of CJK names (3 bytes a character) are not sent as oversized batches again and again', async () => {
      const tight = await fast({ maxBatchReplyBytes: 96 * KB });
      const counting = countingRefusals(tight);
      try {
        assertSameTree(subtree(expected, cjk), await walk(counting.reader, [cjk]), 'walk of the CJK names');
        // A list is ~24 KB, a third of that counted in characters: sized by characters, three or four lists
        // go in a batch meant to stay under half the limit, and such batches are refused throughout the walk.
        assert.ok(counting.refused <= 2, `${counting.refused} of ${counting.batches} batches refused for their size`);
      } finally {
        tight.close();
      }
    });

    test('siblings of very different sizes: a refusal is not undone by the small replies, the refused reads are not refused again and again', async () => {
      const tight = await fast({ maxBatchReplyBytes: 64 * KB });
      const counting = countingRefusals(tight);
      try {
        assertSameTree(subtree(expected, mixed), await walk(counting.reader, [mixed]), 'walk of the mixed siblings');
        // 3 here, in the first batches at this depth. Learning from each result (8520d5a), the estimate fell
        // back after every refusal and the same reads went out in full batches again: 21-30 refused.
        assert.ok(counting.refused <= 6, `${counting.refused} of ${counting.batches} batches refused for their size`);
      } finally {
        tight.close();
      }
    });

    test('a node we may not read: readMany reports -102 for that op only, walkTree fails naming it, with auth it is read', async () => {
      const acl = `${root}/acl`;
      const secret = `${acl}/secret`;
      authed = await authedZk(credentials);
      await authed.create(acl, Buffer.from('acl parent'));
      await authed.create(`${acl}/open`, Buffer.from('open'));
      await authed.create(secret, Buffer.from([0, 1, 2, 0xff]));
      await authed.create(`${secret}/child`, Buffer.from('child'));
      await authed.restrict(secret, credentials);

      const results = await fastZk.readMany([
        { kind: 'data', path: `${acl}/open` },
        { kind: 'data', path: secret },
        { kind: 'children', path: secret },
        { kind: 'data', path: `${acl}/absent` },
        { kind: 'children', path: acl },
      ]);
      assert.equal((results[0] as ZkNode).data.toString(), 'open');
      for (const i of [1, 2]) {
        const e = results[i];
        assert.ok(e instanceof ZkError, `op ${i}: ${String(e)}`);
        assert.equal(e.code, -102);
        assert.equal(e.path, secret);
        assert.equal(e.retryable, false);
      }
      assert.equal(results[3], null);
      assert.deepEqual([...(results[4] as string[])].sort(), ['open', 'secret']);
      assertZkError(await settle(fastZk.get(secret)), [-102], 'get of the protected node');

      const failed = assertZkError(await settle(walk(fastZk, [acl])), [-102], 'walkTree without auth');
      assert.equal(failed.path, secret);
      assert.match(failed.message, new RegExp(secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.match(failed.message, /--zookeeper-auth/);

      const withAuth = await fast({ auth: credentials });
      const addonAuth = await connectZk({ servers: [servers.zk], sessionTimeoutMs: 20_000, auth: credentials, logger });
      try {
        const [f, a] = await Promise.all([walk(withAuth, [acl]), walk(addonAuth, [acl])]);
        assertSameTree(a, f, 'authenticated walk, fast vs addon');
        assert.deepEqual([...f.keys()].sort(), [acl, `${acl}/open`, secret, `${secret}/child`].sort());
        assert.deepEqual([...(f.get(secret) as Buffer)], [0, 1, 2, 0xff]);
        assert.deepStrictEqual(await withAuth.get(secret), await addonAuth.get(secret));
      } finally {
        withAuth.close();
        addonAuth.close();
      }
    });

    test('a server without multiRead (before 3.6): FastPathUnsupportedError; auto falls back to the addon, on fails', { timeout: 90_000 }, async () => {
      const proxy = await zkProxy();
      proxies.push(proxy);
      proxy.pre36(true);
      const outcome = await settle(fast({ servers: [proxy.address] }));
      assert.ok('error' in outcome && outcome.error instanceof FastPathUnsupportedError, `got ${'error' in outcome ? String(outcome.error) : 'a connection'}`);
      assert.equal(outcome.error.code, -6);
      assert.equal(proxy.refused, 1);

      const flags = [`--zookeeper-servers=${proxy.address}`, `--zookeeper-prefix=${root}/names`, '--zookeeper-exclude-prefix=', `--instance=${name}-pre36`, '--output=json'];
      const want = [`${root}/names`, ...nameLeaves].sort();
      const auto = await runCliBounded(['diff', ...flags], { ZK2ETCD_LOG_LEVEL: 'info' }, 30_000);
      assert.equal(auto.code, 3, describeRun(auto));
      assert.deepEqual(jsonReport(auto).missing, want);
      assert.equal(proxy.refused, 2, 'auto tried multiRead first');
      assert.match(auto.stderr, /does not support multiRead \(before 3\.6\): using the one-request-per-node client/);

      const offRun = await runCliBounded(['diff', ...flags], { ZK2ETCD_ZOOKEEPER_FAST_PATH: 'off' }, 30_000);
      assert.equal(offRun.code, 3, describeRun(offRun));
      assert.deepEqual(jsonReport(offRun).missing, want);
      assert.equal(proxy.refused, 2, 'off never sends multiRead');

      const onRun = await runCliBounded(['diff', ...flags, '--zookeeper-fast-path=on'], {}, 30_000);
      assert.equal(onRun.code, 1, describeRun(onRun));
      assert.deepEqual(JSON.parse(onRun.stdout).error.class, 'zk_unimplemented', `an error document, no report: ${onRun.stdout}`);
      assert.match(onRun.stderr, /zk2etcd diff: ZooKeeper at 127\.0\.0\.1:\d+ does not support multiRead \(needs 3\.6\+\); use --zookeeper-fast-path=off or auto/);
      assert.equal(proxy.refused, 3);
    });
  });
});
