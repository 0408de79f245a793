import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ZkError } from '../../common/errors.js';
import { withRetry } from '../../common/retry.js';

describe('withRetry', () => {
  test('many concurrent retries backing off on one signal: no MaxListenersExceededWarning (stderr carries JSON only)', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      const retryable = new ZkError(-4, '/p', 'get', 'connection loss', true);
      const calls = Array.from({ length: 50 }, () => {
        let attempts = 0;
        return withRetry(
          async () => {
            if (++attempts < 2) throw retryable;
            return attempts;
          },
          { attempts: 3, baseDelayMs: 20, maxDelayMs: 20, signal: controller.signal },
        );
      });
      assert.deepEqual(await Promise.all(calls), Array(50).fill(2));
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.deepEqual(warnings.map((w) => w.name), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('a non-retryable error is thrown at once; a retryable one after the last attempt', async () => {
    let n = 0;
    await assert.rejects(withRetry(async () => { n++; throw new ZkError(-101, '/p', 'get', 'no auth', false); }, { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 }), /no auth/);
    assert.equal(n, 1);
    n = 0;
    await assert.rejects(withRetry(async () => { n++; throw new ZkError(-4, '/p', 'get', 'connection loss', true); }, { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 }), /connection loss/);
    assert.equal(n, 3);
  });
});
