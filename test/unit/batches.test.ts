import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BatchLimits } from '../../common/apply/batches.js';
import { batchOps, opBytes } from '../../common/apply/batches.js';
import type { TxnOp } from '../../common/etcd/store.js';
import { MAX_TXN_BYTES, MAX_TXN_OPS } from '../../common/etcd/store.js';

/** etcd transactions of at most 128 operations AND about 1 MiB each (SPEC §4.4). */

const MiB = 1024 * 1024;
const ETCD: BatchLimits = { maxOps: MAX_TXN_OPS, maxBytes: MAX_TXN_BYTES };

const put = (key: string, size: number): TxnOp => ({ type: 'put', key, value: Buffer.alloc(size, 0x61), expect: { absent: true } });
const del = (key: string): TxnOp => ({ type: 'delete', key, expect: { modRevision: '1' } });
const puts = (n: number, size: number, prefix = '/dubbo/k'): TxnOp[] => Array.from({ length: n }, (_, i) => put(`${prefix}${i}`, size));

/** The invariants every batching must keep, whatever the input. */
function assertBatching(ops: readonly TxnOp[], batches: TxnOp[][], limits: BatchLimits): void {
  for (const [i, batch] of batches.entries()) {
    assert.ok(batch.length > 0, `batch ${i} is empty`);
    assert.ok(batch.length <= limits.maxOps, `batch ${i} has ${batch.length} ops > ${limits.maxOps}`);
    const bytes = batch.reduce((sum, op) => sum + opBytes(op), 0);
    assert.ok(bytes <= limits.maxBytes || batch.length === 1, `batch ${i} has ${bytes} bytes > ${limits.maxBytes} with ${batch.length} ops`);
  }
  // Every op exactly once, in the original order (same object identity).
  assert.deepEqual(
    batches.flat(),
    [...ops],
  );
  assert.equal(new Set(batches.flat()).size, ops.length);
}

describe('opBytes', () => {
  const cases: { name: string; op: TxnOp; expected: number }[] = [
    { name: 'a put counts its value once and its key three times, plus overhead', op: put('/k', 10), expected: 3 * 2 + 10 + 64 },
    { name: 'a delete counts no value', op: del('/k'), expected: 3 * 2 + 64 },
    { name: 'an empty put', op: put('/dubbo', 0), expected: 3 * 6 + 64 },
    { name: 'keys are counted in UTF-8 bytes, not characters', op: del('/服务'), expected: 3 * Buffer.byteLength('/服务') + 64 },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(opBytes(c.op), c.expected));
  }

  test('a 1 MiB value costs more than 1 MiB', () => {
    assert.ok(opBytes(put('/dubbo/big', MiB)) > MiB);
  });
});

describe('batchOps', () => {
  const mixed: TxnOp[] = [];
  for (let i = 0; i < 300; i++) mixed.push(i % 3 === 0 ? del(`/dubbo/d${i}`) : put(`/dubbo/p${i}`, (i * 7919) % 20_000));

  const cases: { name: string; ops: TxnOp[]; limits: BatchLimits; expectedSizes: number[] }[] = [
    { name: 'no ops: no batches', ops: [], limits: ETCD, expectedSizes: [] },
    { name: 'one small op: one batch', ops: puts(1, 10), limits: ETCD, expectedSizes: [1] },
    { name: 'exactly 128 small ops fit one batch', ops: puts(128, 10), limits: ETCD, expectedSizes: [128] },
    { name: '129 small ops split 128 + 1', ops: puts(129, 10), limits: ETCD, expectedSizes: [128, 1] },
    { name: '300 deletes split by count: 128 + 128 + 44', ops: Array.from({ length: 300 }, (_, i) => del(`/dubbo/d${i}`)), limits: ETCD, expectedSizes: [128, 128, 44] },
    {
      name: 'values near 1 MiB: each 0.9 MiB put goes alone',
      ops: puts(3, Math.floor(0.9 * MiB)),
      limits: ETCD,
      expectedSizes: [1, 1, 1],
    },
    {
      name: 'a value of exactly 1 MiB is oversized and goes alone between small ops',
      ops: [put('/dubbo/a', 10), put('/dubbo/big', MiB), put('/dubbo/b', 10)],
      limits: ETCD,
      expectedSizes: [1, 1, 1],
    },
    {
      name: 'two 0.4 MiB values share a batch, a third does not fit',
      ops: puts(3, Math.floor(0.4 * MiB)),
      limits: ETCD,
      expectedSizes: [2, 1],
    },
    {
      name: 'a put that fills the byte limit exactly stays in the batch',
      ops: [put('/a', 1000 - opBytes(put('/a', 0)) - opBytes(put('/b', 0))), put('/b', 0), put('/c', 0)],
      limits: { maxOps: 128, maxBytes: 1000 },
      expectedSizes: [2, 1],
    },
    { name: 'small limits: split by count first', ops: puts(5, 0), limits: { maxOps: 2, maxBytes: 1_000_000 }, expectedSizes: [2, 2, 1] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const batches = batchOps(c.ops, c.limits);
      assertBatching(c.ops, batches, c.limits);
      assert.deepEqual(
        batches.map((batch) => batch.length),
        c.expectedSizes,
      );
    });
  }

  test('a mixed run of puts and deletes keeps every invariant under etcd limits', () => {
    assertBatching(mixed, batchOps(mixed, ETCD), ETCD);
  });

  test('a mixed run keeps every invariant under tight limits', () => {
    const tight: BatchLimits = { maxOps: 7, maxBytes: 30_000 };
    const batches = batchOps(mixed, tight);
    assertBatching(mixed, batches, tight);
    assert.ok(batches.length > mixed.length / 7, 'the byte limit should force more batches than the op limit alone');
  });

  test('about 10 KiB values fill batches by bytes before reaching 128 ops', () => {
    const size = Math.floor(MiB / 100);
    const ops = puts(400, size);
    const batches = batchOps(ops, ETCD);
    assertBatching(ops, batches, ETCD);
    assert.ok(batches.every((batch) => batch.length < MAX_TXN_OPS), 'bytes, not the op count, should limit these batches');
  });
});
