import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, test } from 'node:test';
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
