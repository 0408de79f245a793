import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { ZkReplyTooLargeError } from '../../common/zk/connection.js';
import type { BatchResults, ZkBatchReader, ZkNode } from '../../common/zk/reader.js';
import { TreeFollower } from '../../watcher/tree-follower.js';

const node = (data: string, ephemeral: boolean, mzxid: number): ZkNode => ({
  data: Buffer.from(data),
  ephemeral,
  numChildren: 0,
  version: 0,
  mzxid,
  childList: { pzxid: 0, cversion: 0 },
});

/** A batch reader answering from a fixed map of paths (absent: null), with the reply's zxid. */
function reader(nodes: ReadonlyMap<string, ZkNode>, replyZxid: number): ZkBatchReader {
  return {
    batchReads: true,
    maxBatchReplyBytes: 1 << 20,
    get: async (path) => nodes.get(path) ?? null,
    children: async () => null,
    readMany: async (ops) => Object.assign(ops.map((op) => nodes.get(op.path) ?? null), { zxid: replyZxid }) as BatchResults,
  };
}

describe('TreeFollower: the state it reports for an event', () => {
  const cases = [
    { name: 'a persistent node: its data and mzxid', at: node('v', false, 7), skipEphemeral: false, expected: { data: 'v', zxid: 7 } },
    { name: 'an ephemeral node, synced: its data', at: node('e', true, 8), skipEphemeral: false, expected: { data: 'e', zxid: 8 } },
    { name: 'an ephemeral node under --skip-ephemeral: gone (it may have replaced a persistent one)', at: node('e', true, 9), skipEphemeral: true, expected: { data: null, zxid: 9 } },
    { name: 'a deleted node: gone, as of the reply zxid', at: null, skipEphemeral: false, expected: { data: null, zxid: 42 } },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const nodes = new Map(c.at ? [['/r/n', c.at]] : []);
      const reported: { path: string; data: string | null; zxid: number | undefined }[] = [];
      const follower = new TreeFollower(reader(nodes, 42), {
        prefixes: ['/r'],
        excludes: [],
        skipEphemeral: c.skipEphemeral,
        onChange: (path, data, _since, zxid) => reported.push({ path, data: data === null ? null : data.toString(), zxid }),
        onError: (err) => assert.fail(String(err)),
      });
      follower.event('/r/n');
      for (let i = 0; i < 5 && reported.length === 0; i++) await tick();
      assert.deepEqual(reported, [{ path: '/r/n', ...c.expected }]);
    });
  }
});

describe('TreeFollower: a batch whose reply is over the packet limit', () => {
  test('is read again in halves, down to single reads: every path reported, no session rebuild', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sizes: number[] = [];
    let calls = 0;
    const reader: ZkBatchReader = {
      batchReads: true,
      maxBatchReplyBytes: 1 << 20,
      get: async () => null,
      children: async () => null,
      readMany: async (ops) => {
        sizes.push(ops.length);
        if (++calls <= 4) await gate; // the first reads hold every slot, so the next events queue up into one batch
        if (ops.length > 2) throw new ZkReplyTooLargeError(ops.length * 600_000);
        return Object.assign(ops.map((op) => node(op.path, false, 1)), { zxid: 1 }) as BatchResults;
      },
    };
    const reported = new Set<string>();
    const errors: unknown[] = [];
    const follower = new TreeFollower(reader, {
      prefixes: ['/r'],
      excludes: [],
      skipEphemeral: false,
      onChange: (path) => reported.add(path),
      onError: (err) => errors.push(err),
    });
    const paths = Array.from({ length: 11 }, (_, i) => `/r/n${i}`);
    for (const p of paths) follower.event(p);
    release();
    for (let i = 0; i < 50 && reported.size < paths.length; i++) await tick();
    assert.deepEqual(errors, []);
    assert.deepEqual([...reported].sort(), [...paths].sort());
    assert.ok(sizes.includes(7), `the 7 queued paths went as one batch first: ${sizes.join(',')}`);
    assert.ok(Math.max(...sizes.slice(5)) <= 4, 'then in halves');
  });
});
