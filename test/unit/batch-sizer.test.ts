import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BatchSizer, type PendingRead } from '../../common/zk/batch-sizer.js';

const KB = 1024;
const data = (path: string, depth: number): PendingRead => ({ kind: 'data', path, depth, kids: 0 });
const list = (path: string, depth: number, kids: number): PendingRead => ({ kind: 'children', path, asPaths: true, depth, kids });
const datas = (n: number, depth: number): PendingRead[] => Array.from({ length: n }, (_, i) => data(`/d${depth}/n${i}`, depth));
const lists = (n: number, depth: number, kids: number): PendingRead[] => Array.from({ length: n }, (_, i) => list(`/d${depth}/n${i}`, depth, kids));
/** One batch came back: each read with its result's bytes (and a list's names). */
const replied = (s: BatchSizer, results: [PendingRead, number, number?][]): void =>
  s.learn(results.map((r) => r[0]), results.map((r) => r[1]), results.map((r) => r[2] ?? 0));
const learnData = (s: BatchSizer, depth: number, bytes: number): void => replied(s, [[data('/x', depth), bytes]]);
const learnList = (s: BatchSizer, depth: number, bytes: number, names: number): void => replied(s, [[list('/x', depth, names), bytes, names]]);

describe('BatchSizer.predict: from what replies at the same depth weighed', () => {
  const cases: { name: string; learn: (s: BatchSizer) => void; op: PendingRead; expected: number }[] = [
    { name: 'a node at a depth never read: 1 KB', learn: () => undefined, op: data('/a', 3), expected: KB },
    { name: 'a list at a depth never read: 1 KB a name', learn: () => undefined, op: list('/a', 3, 10), expected: 13 + 10 * KB },
    { name: 'a node after one reply at its depth: that reply', learn: (s) => learnData(s, 2, 90), op: data('/a', 2), expected: 90 },
    { name: 'a node at another depth than the replies: still unknown', learn: (s) => learnData(s, 2, 90), op: data('/a', 1), expected: KB },
    { name: 'a list: bytes per name times the parent’s child count', learn: (s) => learnList(s, 1, 13 + 4 * 600, 4), op: list('/a', 1, 20), expected: 13 + 20 * 600 },
    { name: 'names of 200 CJK characters are 600 bytes, not 200', learn: (s) => learnList(s, 1, 13 + 40 * (4 + 600), 40), op: list('/a', 1, 40), expected: 13 + 40 * 604 },
    { name: 'later replies move the estimate 30% of the way', learn: (s) => (learnData(s, 0, 100), learnData(s, 0, 200)), op: data('/a', 0), expected: 130 },
    { name: 'an empty list teaches nothing about names', learn: (s) => learnList(s, 1, 13, 0), op: list('/a', 1, 2), expected: 13 + 2 * KB },
    { name: 'a list with no children expected', learn: () => undefined, op: list('/a', 1, 0), expected: 13 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const s = new BatchSizer(512 * KB, 100);
      c.learn(s);
      assert.equal(s.predict(c.op), c.expected);
    });
  }
});

describe('BatchSizer.learn: once per depth and kind per batch, from its mean', () => {
  test('one batch of 100 small results after a refusal moves the estimate 30% of the way, not to the small size', () => {
    const s = new BatchSizer(512 * KB, 100);
    learnData(s, 2, 100);
    s.refused(datas(10, 2), 10 * 30 * KB); // the refused batch weighed 30 KB a node
    assert.equal(s.predict(data('/a', 2)), 30 * KB);
    replied(s, datas(100, 2).map((op): [PendingRead, number] => [op, 100]));
    assert.equal(s.predict(data('/a', 2)), 30 * KB + 0.3 * (100 - 30 * KB));
  });

  test('a batch mixing depths and kinds: each learns from its own results', () => {
    const s = new BatchSizer(512 * KB, 100);
    replied(s, [[data('/a', 1), 100], [data('/b', 1), 300], [data('/c', 2), 50], [list('/a', 1, 2), 13 + 2 * 504, 2], [list('/b', 1, 0), 13, 0], [list('/c', 2, 4), 13 + 4 * 24, 4]]);
    assert.deepEqual(
      [s.predict(data('/x', 1)), s.predict(data('/x', 2)), s.predict(list('/x', 1, 10)), s.predict(list('/x', 2, 10)), s.predict(data('/x', 3))],
      [200, 50, 13 + 10 * 504, 13 + 10 * 24, KB],
    );
  });
});

describe('BatchSizer.take: the next batch, from the end of the queue', () => {
  const cases: { name: string; todo: () => PendingRead[]; learn?: (s: BatchSizer) => void; expected: number }[] = [
    { name: 'an empty queue: no batch', todo: () => [], expected: 0 },
    { name: 'small nodes: at most maxOps', todo: () => datas(250, 1), learn: (s) => learnData(s, 1, 80), expected: 100 },
    { name: 'unknown nodes: as many 1 KB guesses as the budget holds', todo: () => datas(250, 1), expected: 64 },
    { name: 'lists of 20 names of ~1 KB: what fits 64 KB', todo: () => lists(50, 2, 20), learn: (s) => learnList(s, 2, 13 + 20 * 1000, 20), expected: 3 },
    { name: 'one list over the whole budget: alone, never none', todo: () => lists(5, 2, 20_000), expected: 1 },
  ];
  test('a smaller maxOps of its own (a refused batch taken again in at most half as many reads)', () => {
    const s = new BatchSizer(64 * KB, 100);
    learnData(s, 1, 80);
    assert.equal(s.take(datas(40, 1), 20)?.length, 20);
  });
  for (const c of cases) {
    test(c.name, () => {
      const s = new BatchSizer(64 * KB, 100);
      c.learn?.(s);
      const todo = c.todo();
      const before = [...todo];
      const batch = s.take(todo) ?? [];
      assert.equal(batch.length, c.expected);
      assert.deepEqual([...todo, ...batch], before, 'the batch is the end of the queue, removed from it');
      const predicted = batch.reduce((sum, op) => sum + s.predict(op), 0);
      assert.ok(batch.length <= 1 || predicted <= 64 * KB, `${predicted} bytes predicted for ${batch.length} reads`);
    });
  }
});

describe('BatchSizer.refused: a batch whose reply was over the limit', () => {
  test('its reads are batched again smaller: the same batch is now predicted at the refused size', () => {
    const s = new BatchSizer(64 * KB, 100);
    learnList(s, 2, 13 + 10 * 100, 10); // 100 bytes a name, learned from short names
    const todo = lists(40, 2, 10);
    const batch = s.take(todo) as PendingRead[];
    assert.equal(batch.length, 40);
    s.refused(batch, 40 * (13 + 10 * 604)); // the names were 600 bytes
    assert.equal(Math.round(batch.reduce((sum, op) => sum + s.predict(op), 0)), 40 * (13 + 10 * 604));
    const again = s.take(batch) as PendingRead[];
    assert.ok(again.length >= 1 && again.length < 40, `${again.length} of 40`);
  });

  test('every depth and kind in the batch grows by the same factor; others are left alone', () => {
    const s = new BatchSizer(64 * KB, 100);
    learnData(s, 3, 100);
    learnData(s, 4, 100);
    const batch = [data('/a', 3), list('/b', 2, 10)]; // predicted 100 + (13 + 10 KB)
    s.refused(batch, 13 + 2 * (100 + 10 * KB)); // twice the prediction, beyond the list's fixed 13 bytes
    assert.deepEqual([s.predict(data('/x', 3)), s.predict(list('/y', 2, 1)), s.predict(data('/z', 4))], [200, 13 + 2 * KB, 100]);
  });

  test('a refusal no larger than the prediction changes nothing', () => {
    const s = new BatchSizer(64 * KB, 100);
    s.refused([data('/a', 1), data('/b', 1)], 100);
    assert.equal(s.predict(data('/a', 1)), KB);
  });
});
