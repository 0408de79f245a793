import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ZkError } from '../../common/errors.js';
import { createMetrics } from '../../common/metrics.js';
import type { FastZkConnection } from '../../common/zk/fast-client.js';
import { instrumentFastSession } from '../../common/zk/instrumented.js';
import type { BatchRead, BatchResults, ZkNode } from '../../common/zk/reader.js';

const NODE: ZkNode = { data: Buffer.from('x'), ephemeral: false, numChildren: 0, mzxid: 1, childList: { pzxid: 1, cversion: 0 } } as unknown as ZkNode;
const NO_AUTH = new ZkError(-102, '/p/secret', 'get', 'no auth', false);

/** A protocol-client session answering every multiRead with the given results. */
function sessionAnswering(results: BatchResults): FastZkConnection {
  const fail = (): never => {
    throw new Error('not used');
  };
  return { batchReads: true, maxBatchReplyBytes: 1 << 20, get: fail, children: fail, readMany: async () => results, watchTree: fail, close: () => undefined } as unknown as FastZkConnection;
}

async function opCounts(metrics: ReturnType<typeof createMetrics>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.zkOps.get()).values) out[`${v.labels.op} ${v.labels.status}`] = v.value;
  return out;
}

describe('instrumentFastSession: zk2etcd_zk_op_total for multiRead', () => {
  const cases: { name: string; ops: BatchRead[]; results: BatchResults; expected: Record<string, number> }[] = [
    {
      name: 'every read succeeds (absent included): one multi_read success',
      ops: [{ kind: 'data', path: '/p/a' }, { kind: 'children', path: '/p/a' }, { kind: 'data', path: '/p/gone' }],
      results: [NODE, ['b'], null],
      expected: { 'multi_read success': 1 },
    },
    {
      name: 'a read failing inside the batch counts as its own op with its error class',
      ops: [{ kind: 'data', path: '/p/a' }, { kind: 'data', path: '/p/secret' }, { kind: 'children', path: '/p/secret' }],
      results: [NODE, NO_AUTH, new ZkError(-102, '/p/secret', 'children', 'no auth', false)],
      expected: { 'multi_read success': 1, 'get zk_no_auth': 1, 'children zk_no_auth': 1 },
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const metrics = createMetrics();
      const session = instrumentFastSession(sessionAnswering(c.results), metrics);
      assert.equal(await session.readMany(c.ops), c.results);
      assert.deepEqual(await opCounts(metrics), c.expected);
    });
  }
});
