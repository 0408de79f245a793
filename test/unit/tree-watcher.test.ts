import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import type { ZkNode, ZkWatchReader } from '../../common/zk/reader.js';
import { TreeWatcher } from '../../watcher/tree-watcher.js';
import { MemZk, type ReadKind } from '../helpers/mem-zk.js';
import { prng } from '../helpers/prng.js';

/** A fixture tree in memory: `/root` with `width` leaf children; every read answers on a later tick. */
function fixtureReader(width: number) {
  const reads: string[] = [];
  const node = (data: string, numChildren: number): ZkNode => ({
    data: Buffer.from(data),
    ephemeral: false,
    numChildren,
    version: 0,
    mzxid: 1,
    childList: { pzxid: 1, cversion: numChildren },
  });
  const names = Array.from({ length: width }, (_, i) => `leaf${i}`);
  const reader = {
    async existsW() {
      await tick();
      return true;
    },
    async getW(path: string) {
      reads.push(`get ${path}`);
      await tick();
      return path === '/root' ? node('root', width) : node(path, 0);
    },
    async childrenW(path: string) {
      reads.push(`children ${path}`);
      await tick();
      return path === '/root' ? names : [];
    },
  } as unknown as ZkWatchReader;
  return { reader, reads };
}

describe('TreeWatcher.stop during the initial load', () => {
  for (const concurrency of [1, 4, 16]) {
    test(`concurrency ${concurrency}: loads queued behind the limiter read nothing and report nothing after stop`, async () => {
      const { reader, reads } = fixtureReader(500);
      const changes: string[] = [];
      let watcher: TreeWatcher | null = null;
      let readsAtStop = -1;
      watcher = new TreeWatcher(reader, {
        prefixes: ['/root'],
        excludes: [],
        skipEphemeral: false,
        concurrency,
        logger: silentLogger(),
        onChange: (path) => {
          changes.push(path);
          if (changes.length === 10) {
            readsAtStop = reads.length;
            watcher?.stop();
          }
        },
        onError: (err) => assert.fail(String(err)),
      });
      await watcher.start();
      assert.equal(changes.length, 10, 'nothing reported after stop');
      assert.ok(readsAtStop > 0);
      // Only reads already sent when stop() was called (at most `concurrency`) may still answer.
      assert.ok(reads.length - readsAtStop <= concurrency, `${reads.length - readsAtStop} reads after stop`);
    });
  }
});

/** A TreeWatcher over a MemZk, recording the last state it reported per path. */
function watched(zk: MemZk, root: string, skipEphemeral = false) {
  const reported = new Map<string, string | null>();
  const errors: unknown[] = [];
  const watcher = new TreeWatcher(zk.reader, {
    prefixes: [root],
    excludes: [],
    skipEphemeral,
    concurrency: 4,
    logger: silentLogger(),
    onChange: (path, data) => reported.set(path, data === null ? null : data.toString()),
    onError: (err) => errors.push(err),
  });
  /** Delivers every reply and event, and lets the watcher act on each, until nothing is left. */
  const settle = async (): Promise<void> => {
    for (let idle = 0; idle < 3; ) {
      if (zk.step()) idle = 0;
      else idle++;
      await tick();
    }
  };
  /** The reported state equals the tree (nodes left out by --skip-ephemeral: reported absent), and every node is watched. */
  const assertFollows = (): void => {
    assert.deepEqual(errors, []);
    const want = new Map<string, string>();
    for (const [path, n] of zk.tree(root)) if (!(skipEphemeral && n.ephemeral)) want.set(path, n.data);
    const got = new Map([...reported].filter((e): e is [string, string] => e[1] !== null));
    assert.deepEqual(got, want, 'reported state = the tree');
    assert.deepEqual([...watcher.paths()].sort(), [...zk.tree(root).keys()].sort(), 'every node mirrored');
    // One data and one child watch per node, none left on a node gone (the root's exists watch shares its data watch's table).
    assert.equal(zk.armedWatches, 2 * zk.tree(root).size, 'watches armed');
  };
  /** Loads the tree: its reads are answered as settle() delivers them. */
  const start = async (): Promise<void> => {
    const started = watcher.start();
    await settle();
    await started;
  };
  return { watcher, reported, start, settle, assertFollows };
}

/** Runs `change` the first time a read of `kind` on `path` is made (before) or answered (after). */
function onFirstRead(zk: MemZk, when: 'before' | 'after', kind: ReadKind, path: string, change: () => void): void {
  let done = false;
  const hook = (k: ReadKind, p: string): void => {
    if (!done && k === kind && p === path) {
      done = true;
      change();
    }
  };
  if (when === 'before') zk.beforeRead = hook;
  else zk.afterRead = hook;
}

describe('TreeWatcher against changes racing its reads (in-memory ZooKeeper)', () => {
  test('a new node deleted before its first read and re-created before the parent is listed again is loaded and followed', async () => {
    const zk = new MemZk();
    zk.create('/r', 'root');
    const w = watched(zk, '/r');
    await w.start();
    onFirstRead(zk, 'before', 'get', '/r/c', () => zk.remove('/r/c'));
    onFirstRead(zk, 'after', 'get', '/r/c', () => zk.create('/r/c', 'v2'));
    zk.create('/r/c', 'v1');
    await w.settle();
    w.assertFollows();
    zk.set('/r/c', 'v3');
    zk.create('/r/c/k', 'k');
    await w.settle();
    w.assertFollows();
  });

  test('a node deleted between its data read and its child read, then re-created with a child, is loaded with the child', async () => {
    const zk = new MemZk();
    zk.create('/r', 'root');
    const w = watched(zk, '/r');
    await w.start();
    onFirstRead(zk, 'before', 'children', '/r/c', () => zk.remove('/r/c'));
    onFirstRead(zk, 'after', 'children', '/r/c', () => {
      zk.create('/r/c', 'v2');
      zk.create('/r/c/k', 'k');
    });
    zk.create('/r/c', 'v1');
    await w.settle();
    w.assertFollows();
    zk.create('/r/c/k2', 'k2');
    await w.settle();
    w.assertFollows();
  });

  for (const [from, to] of [['persistent', 'ephemeral'], ['ephemeral', 'persistent']] as const) {
    test(`--skip-ephemeral: a ${from} node replaced at once by an ${to} one is reported ${to === 'ephemeral' ? 'gone' : 'with its data'}`, async () => {
      const zk = new MemZk();
      zk.create('/r', 'root');
      for (let i = 0; i < 5; i++) zk.create(`/r/s${i}`, `${from}-${i}`, from === 'ephemeral');
      const w = watched(zk, '/r', true);
      await w.start();
      w.assertFollows();
      for (let i = 0; i < 5; i++) {
        zk.remove(`/r/s${i}`);
        zk.create(`/r/s${i}`, `${to}-${i}`, to === 'ephemeral');
      }
      await w.settle();
      w.assertFollows();
    });
  }

  // Random creates, sets and deletes (some made while a read is in flight), in random order with the
  // deliveries: whatever the interleaving, once everything is delivered the reported state is the tree.
  for (const skipEphemeral of [false, true]) {
    test(`random churn (skipEphemeral ${skipEphemeral}): the reported state always ends equal to the tree`, async () => {
      const paths = ['/r/a', '/r/b', '/r/a/x', '/r/a/y', '/r/b/x', '/r/a/x/z'];
      for (let seed = 1; seed <= 150; seed++) {
        const r = prng(seed);
        const zk = new MemZk();
        zk.create('/r', 'root');
        const w = watched(zk, '/r', skipEphemeral);
        await w.start();
        let n = 0;
        const randomChange = (): void => {
          const path = paths[Math.floor(r() * paths.length)] as string;
          const parent = path.slice(0, path.lastIndexOf('/'));
          if (!zk.has(path)) {
            if (zk.has(parent) && !(skipEphemeral && zk.tree(parent).get(parent)?.ephemeral)) zk.create(path, `v${++n}`, skipEphemeral && r() < 0.5);
          } else if (r() < 0.5) zk.set(path, `v${++n}`);
          else if (zk.childrenOf(path).length === 0) zk.remove(path);
        };
        zk.beforeRead = () => {
          if (r() < 0.2) randomChange();
        };
        for (let i = 0; i < 60; i++) {
          randomChange();
          for (let s = Math.floor(r() * 4); s > 0; s--) {
            zk.step();
            await tick();
          }
        }
        zk.beforeRead = () => undefined;
        await w.settle();
        try {
          w.assertFollows();
          // Every watch re-armed: one more change on each node, and a new child under each persistent one, all followed.
          for (const [path, node] of zk.tree('/r')) {
            zk.set(path, `after-${++n}`);
            if (!node.ephemeral) zk.create(`${path}/after`, 'new');
          }
          await w.settle();
          w.assertFollows();
        } catch (err) {
          throw new Error(`seed ${seed}: ${(err as Error).message}`);
        }
        w.watcher.stop();
      }
    });
  }
});
