import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AbortedError, ZkError } from '../../common/errors.js';
import { withRetry } from '../../common/retry.js';
import { isZkOutage, toZkError, ZkProtocolError, zkReadRetry } from '../../common/zk/errors.js';

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

  test('giveUp: a retryable error it names ends the retries at once, still retryable for the caller', async () => {
    let n = 0;
    const outage = toZkError(new ZkProtocolError(-4, 'no connection to ZooKeeper for 2s (--zookeeper-session-timeout)', true), 'multi_read', '/p');
    await assert.rejects(
      withRetry(async () => {
        n++;
        throw outage;
      }, { ...zkReadRetry(undefined), baseDelayMs: 1, maxDelayMs: 1 }),
      (err: unknown) => err === outage && outage.retryable,
    );
    assert.equal(n, 1);
    assert.match(outage.message, /^ZooKeeper multi_read \/p failed: connection_loss \(-4\) \(no connection to ZooKeeper for 2s \(--zookeeper-session-timeout\)\)$/);
  });

  test('isZkOutage: only a wait past the session timeout, not a dropped connection', () => {
    const cases: { name: string; err: unknown; expected: boolean }[] = [
      { name: 'queued past the session timeout', err: toZkError(new ZkProtocolError(-4, 'no connection', true), 'get', '/p'), expected: true },
      { name: 'the connection dropped under the request', err: toZkError(new ZkProtocolError(-4, 'connection to ZooKeeper lost'), 'get', '/p'), expected: false },
      { name: 'the raw protocol error', err: new ZkProtocolError(-4, 'no connection', true), expected: true },
      { name: 'another error', err: new Error('x'), expected: false },
    ];
    for (const c of cases) assert.equal(isZkOutage(c.err), c.expected, c.name);
  });

  test('abandonOnAbort: an attempt in flight is left at once when the signal aborts; without it, awaited', async () => {
    const controller = new AbortController();
    let finish: (v: string) => void = () => undefined;
    const never = new Promise<string>((resolve) => (finish = resolve));
    const read = withRetry(() => never, { ...zkReadRetry(controller.signal) });
    controller.abort();
    await assert.rejects(read, AbortedError);

    const write = new AbortController();
    let settled = false;
    const awaited = withRetry(() => never, { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, signal: write.signal }).then((v) => {
      settled = true;
      return v;
    });
    write.abort();
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'a write is awaited after the abort');
    finish('done');
    assert.equal(await awaited, 'done');
  });

  test('abandonOnAbort: a signal aborted already fails the attempt without waiting', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(withRetry(() => new Promise(() => undefined), zkReadRetry(controller.signal)), AbortedError);
  });
});
