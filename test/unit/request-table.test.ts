import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JuteReader } from '../../common/zk/jute.js';
import { RequestTable, type Reply } from '../../common/zk/request-table.js';

/** A table with one request per xid; records how each ended. */
function table(requests: readonly { xid: number; batch?: boolean }[]) {
  const t = new RequestTable();
  const outcomes = new Map<number, string>();
  for (const { xid, batch } of requests) {
    t.add(xid, {
      resolve: (r: Reply) => outcomes.set(xid, `reply at ${r.zxid}`),
      reject: (err) => outcomes.set(xid, `failed: ${err.message}`),
      batch: batch ?? false,
    });
  }
  return { t, outcomes };
}
const frame = (xid: number) => Buffer.from([xid]);
const reply = (zxid: number): Reply => ({ body: new JuteReader(Buffer.alloc(0)), zxid });

describe('RequestTable (a ZooKeeper session\'s requests awaiting replies)', () => {
  test('take returns a request once: a second reply for the same xid finds nothing', () => {
    const { t, outcomes } = table([{ xid: 1 }]);
    t.take(1)?.resolve(reply(7));
    assert.equal(t.take(1), undefined);
    assert.deepEqual([...outcomes], [[1, 'reply at 7']]);
  });

  const batchCases = [
    { name: 'a multi-op read', batch: true, expected: true },
    { name: 'a single read', batch: false, expected: false },
  ];
  for (const c of batchCases) {
    test(`isBatch: ${c.name} -> ${c.expected}; an unknown xid -> false`, () => {
      const { t } = table([{ xid: 5, batch: c.batch }]);
      assert.equal(t.isBatch(5), c.expected);
      assert.equal(t.isBatch(6), false);
    });
  }

  test('takeQueued: the frames in order, without those whose request already ended; the queue is emptied', () => {
    const { t } = table([{ xid: 1 }, { xid: 2 }, { xid: 3 }]);
    t.queue(1, frame(1), 100);
    t.queue(2, frame(2), 100);
    t.queue(3, frame(3), 100);
    t.take(2)?.reject(new Error('gone'));
    assert.deepEqual(t.takeQueued(), [frame(1), frame(3)]);
    assert.deepEqual(t.takeQueued(), []);
  });

  test('expire fails only the queued requests past their deadline, oldest first', () => {
    const { t, outcomes } = table([{ xid: 1 }, { xid: 2 }, { xid: 3 }]);
    t.queue(1, frame(1), 100);
    t.queue(2, frame(2), 200);
    t.queue(3, frame(3), 300);
    t.expire(200, () => new Error('not reconnected in time'));
    assert.deepEqual([...outcomes], [[1, 'failed: not reconnected in time'], [2, 'failed: not reconnected in time']]);
    assert.deepEqual(t.takeQueued(), [frame(3)], 'the one not yet due is still sent on connect');
  });

  test('failAll fails every waiting request, queued or sent, and empties the queue', () => {
    const { t, outcomes } = table([{ xid: 1 }, { xid: 2 }]);
    t.queue(2, frame(2), 100);
    t.failAll(new Error('connection lost'));
    assert.deepEqual([...outcomes].sort(), [[1, 'failed: connection lost'], [2, 'failed: connection lost']]);
    assert.deepEqual(t.takeQueued(), []);
    assert.equal(t.take(1), undefined);
  });
});
