import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OwnershipRecord } from '../../common/ownership/store.js';
import { inKeyOrder, mergeSides } from '../../common/plan/merge-sides.js';
import { plan, planSorted } from '../../common/plan/plan.js';
import { prng } from '../helpers/prng.js';

/** The sorted-list matching of a chunk's two sides (the reconcile's planner input). */

const keyed = (...keys: string[]) => keys.map((key, i) => ({ key, n: i }));

describe('inKeyOrder', () => {
  test('a list already in order is returned as it is (no copy)', () => {
    const list = keyed('/d/a', '/d/a/x', '/d/b');
    assert.equal(inKeyOrder(list), list);
  });

  const cases: { name: string; list: { key: string; n: number }[]; expected: [string, number][] }[] = [
    { name: 'out of order: sorted', list: keyed('/d/b', '/d/a', '/d/c'), expected: [['/d/a', 1], ['/d/b', 0], ['/d/c', 2]] },
    { name: 'a repeated key is kept once, its last entry (as a map keeps it)', list: keyed('/d/b', '/d/a', '/d/b'), expected: [['/d/a', 1], ['/d/b', 2]] },
    { name: 'a repeated key next to itself is out of order too', list: keyed('/d/a', '/d/a'), expected: [['/d/a', 1]] },
    // etcd returns these in UTF-8 byte order (U+FF21 first); the merge needs one order on both sides.
    { name: "etcd's order of a key above U+FFFF is re-sorted by code unit", list: keyed('/k/\uff21', '/k/\u{1f600}'), expected: [['/k/\u{1f600}', 1], ['/k/\uff21', 0]] },
    { name: 'empty', list: [], expected: [] },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(inKeyOrder(c.list).map((e) => [e.key, e.n]), c.expected));
  }
});

describe('mergeSides', () => {
  const cases: { name: string; desired: string[]; current: string[]; expected: [string, boolean, boolean][] }[] = [
    { name: 'both sides, one side, the other', desired: ['/a', '/b'], current: ['/b', '/c'], expected: [['/a', true, false], ['/b', true, true], ['/c', false, true]] },
    { name: 'only ZooKeeper', desired: ['/a', '/b'], current: [], expected: [['/a', true, false], ['/b', true, false]] },
    { name: 'only etcd', desired: [], current: ['/a'], expected: [['/a', false, true]] },
    { name: 'a key and its subtree on alternating sides', desired: ['/a', '/a/x', '/a-b'], current: ['/a-b', '/a/x/y'], expected: [['/a', true, false], ['/a-b', true, true], ['/a/x', true, false], ['/a/x/y', false, true]] },
    { name: 'nothing', desired: [], current: [], expected: [] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const seen: [string, boolean, boolean][] = [];
      mergeSides(inKeyOrder(keyed(...c.desired)), inKeyOrder(keyed(...c.current)), (key, want, have) => seen.push([key, want !== undefined, have !== undefined]));
      assert.deepEqual(seen, c.expected);
    });
  }
});

describe('planSorted plans what plan plans', () => {
  test('2,000 random chunks: missing, changed, in sync, extra, foreign and conflict keys, non-ASCII keys, any order', () => {
    const r = prng(11);
    const alphabet = ['a', 'b', '-', '/', '%2F', '\u00e9', '\u4e2d', '\uff21', '\u{1f600}'];
    const word = () => Array.from({ length: 1 + Math.floor(r() * 4) }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
    const records: (OwnershipRecord | undefined)[] = [undefined, { kind: 'revision', revision: '5' }, { kind: 'revision', revision: '6' }, { kind: 'pending' }, { kind: 'legacy' }];
    for (let round = 0; round < 2000; round++) {
      const desired = new Map<string, Buffer>();
      const current = new Map<string, { value: Buffer; modRevision: string }>();
      const ownership = new Map<string, OwnershipRecord>();
      for (let i = Math.floor(r() * 12); i > 0; i--) {
        const key = `/p/${word()}`;
        const side = r();
        if (side < 0.7) desired.set(key, Buffer.from(pick(['x', 'y', ''])));
        if (side > 0.3) current.set(key, { value: Buffer.from(pick(['x', 'y', ''])), modRevision: pick(['5', '6']) });
        const record = pick(records);
        if (record) ownership.set(key, record);
      }
      // Each side in any order, as a walk and a multi-range snapshot may give them.
      const shuffled = <T>(xs: T[]): T[] => xs.map((x) => ({ x, k: r() })).sort((a, b) => a.k - b.k).map((p) => p.x);
      const sorted = planSorted({
        desired: inKeyOrder(shuffled([...desired].map(([key, value]) => ({ key, value })))),
        current: inKeyOrder(shuffled([...current].map(([key, e]) => ({ key, ...e })))),
        ownership,
      });
      assert.deepEqual(sorted, plan({ desired, current, ownership }), `round ${round}`);
    }
  });
});
