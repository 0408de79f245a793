import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { silentLogger } from '../../common/logger.js';
import type { ZkNode, ZkWatchReader } from '../../common/zk/reader.js';
import { TreeWatcher } from '../../watcher/tree-watcher.js';

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
