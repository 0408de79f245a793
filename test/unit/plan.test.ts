import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EtcdEntry } from '../../common/etcd/store.js';
import type { OwnershipRecord } from '../../common/ownership/store.js';
import type { Plan, PlanInput } from '../../common/plan/plan.js';
import { differenceCount, plan, plannedKeys, planSorted } from '../../common/plan/plan.js';
import { inKeyOrder } from '../../common/plan/merge-sides.js';

/** The pure planner (SPEC §3, §4.2). */

const b = (s: string) => Buffer.from(s);
const entry = (value: Buffer | string, modRevision: string): EtcdEntry => ({ value: typeof value === 'string' ? b(value) : value, modRevision });
const ours = (revision: string): OwnershipRecord => ({ kind: 'revision', revision });
const PENDING: OwnershipRecord = { kind: 'pending' };
const LEGACY: OwnershipRecord = { kind: 'legacy' };

/** A plan reduced to comparable plain data (Buffers as hex). */
interface Summary {
  missing: { key: string; value: string; expect: unknown }[];
  changed: { key: string; value: string; expect: unknown }[];
  extra: { key: string; modRevision: string }[];
  foreign: string[];
  conflict: string[];
  inSync: number;
}
const summarize = (p: Plan): Summary => ({
  missing: p.missing.map((a) => ({ key: a.key, value: a.value.toString('hex'), expect: a.expect })),
  changed: p.changed.map((a) => ({ key: a.key, value: a.value.toString('hex'), expect: a.expect })),
  extra: p.extra.map((a) => ({ key: a.key, modRevision: a.modRevision })),
  foreign: [...p.foreign],
  conflict: [...p.conflict],
  inSync: p.inSync,
});
const EMPTY: Summary = { missing: [], changed: [], extra: [], foreign: [], conflict: [], inSync: 0 };
const hex = (v: Buffer | string) => (typeof v === 'string' ? b(v) : v).toString('hex');

const NUL_BINARY = Buffer.from([0x00, 0x01, 0xff, 0x00]);
const INVALID_UTF8 = Buffer.from([0xc3, 0x28, 0xa0, 0xa1]);
// Both decode to U+FFFD replacement characters: equal as lossy text, different as bytes.
const INVALID_UTF8_OTHER = Buffer.from([0xc3, 0x28, 0xa0, 0xa2]);

interface Case {
  name: string;
  input: PlanInput;
  expected: Partial<Summary>;
}

const cases: Case[] = [
  {
    name: 'missing: in ZooKeeper, not in etcd -> create with expect absent',
    input: { desired: new Map([['/dubbo/a', b('v')]]), current: new Map(), ownership: new Map() },
    expected: { missing: [{ key: '/dubbo/a', value: hex('v'), expect: { absent: true } }] },
  },
  {
    name: 'missing: an empty znode is still created',
    input: { desired: new Map([['/dubbo', Buffer.alloc(0)]]), current: new Map(), ownership: new Map() },
    expected: { missing: [{ key: '/dubbo', value: '', expect: { absent: true } }] },
  },
  {
    name: 'changed: bytes differ -> update expecting the observed mod revision',
    input: { desired: new Map([['/dubbo/a', b('new')]]), current: new Map([['/dubbo/a', entry('old', '7')]]), ownership: new Map() },
    expected: { changed: [{ key: '/dubbo/a', value: hex('new'), expect: { modRevision: '7' } }] },
  },
  {
    name: 'changed: binary values with NUL bytes differing in one byte',
    input: {
      desired: new Map([['/dubbo/bin', NUL_BINARY]]),
      current: new Map([['/dubbo/bin', entry(Buffer.from([0x00, 0x01, 0xff, 0x01]), '3')]]),
      ownership: new Map(),
    },
    expected: { changed: [{ key: '/dubbo/bin', value: hex(NUL_BINARY), expect: { modRevision: '3' } }] },
  },
  {
    name: 'changed: invalid UTF-8 compared as bytes, not as decoded text',
    input: {
      desired: new Map([['/dubbo/raw', INVALID_UTF8]]),
      current: new Map([['/dubbo/raw', entry(INVALID_UTF8_OTHER, '4')]]),
      ownership: new Map(),
    },
    expected: { changed: [{ key: '/dubbo/raw', value: hex(INVALID_UTF8), expect: { modRevision: '4' } }] },
  },
  {
    name: 'changed: empty in ZooKeeper, non-empty in etcd',
    input: { desired: new Map([['/dubbo/e', Buffer.alloc(0)]]), current: new Map([['/dubbo/e', entry('x', '9')]]), ownership: new Map() },
    expected: { changed: [{ key: '/dubbo/e', value: '', expect: { modRevision: '9' } }] },
  },
  {
    name: 'changed: non-empty in ZooKeeper, empty in etcd',
    input: { desired: new Map([['/dubbo/e', b('x')]]), current: new Map([['/dubbo/e', entry(Buffer.alloc(0), '9')]]), ownership: new Map() },
    expected: { changed: [{ key: '/dubbo/e', value: hex('x'), expect: { modRevision: '9' } }] },
  },
  {
    name: 'in sync: equal bytes (text)',
    input: { desired: new Map([['/dubbo/a', b('same')]]), current: new Map([['/dubbo/a', entry('same', '2')]]), ownership: new Map() },
    expected: { inSync: 1 },
  },
  {
    name: 'in sync: equal binary bytes with NUL and invalid UTF-8',
    input: {
      desired: new Map([
        ['/dubbo/bin', NUL_BINARY],
        ['/dubbo/raw', INVALID_UTF8],
        ['/dubbo/empty', Buffer.alloc(0)],
      ]),
      current: new Map([
        ['/dubbo/bin', entry(Buffer.from(NUL_BINARY), '2')],
        ['/dubbo/raw', entry(Buffer.from(INVALID_UTF8), '3')],
        ['/dubbo/empty', entry(Buffer.alloc(0), '4')],
      ]),
      ownership: new Map(),
    },
    expected: { inSync: 3 },
  },
  {
    name: 'in sync: ownership does not matter for keys in ZooKeeper',
    input: { desired: new Map([['/dubbo/a', b('v')]]), current: new Map([['/dubbo/a', entry('v', '5')]]), ownership: new Map([['/dubbo/a', ours('1')]]) },
    expected: { inSync: 1 },
  },
  {
    name: 'extra: ours with the matching revision -> delete expecting that revision',
    input: { desired: new Map(), current: new Map([['/dubbo/gone', entry('v', '5')]]), ownership: new Map([['/dubbo/gone', ours('5')]]) },
    expected: { extra: [{ key: '/dubbo/gone', modRevision: '5' }] },
  },
  {
    name: 'extra: a pending record proves ownership (crash between mark and record)',
    input: { desired: new Map(), current: new Map([['/dubbo/gone', entry('v', '8')]]), ownership: new Map([['/dubbo/gone', PENDING]]) },
    expected: { extra: [{ key: '/dubbo/gone', modRevision: '8' }] },
  },
  {
    name: 'extra: a legacy (zk2etcd 1.x) record proves ownership',
    input: { desired: new Map(), current: new Map([['/dubbo/gone', entry('v', '11')]]), ownership: new Map([['/dubbo/gone', LEGACY]]) },
    expected: { extra: [{ key: '/dubbo/gone', modRevision: '11' }] },
  },
  {
    name: 'conflict: ours, but the mod revision moved since our write -> kept',
    input: { desired: new Map(), current: new Map([['/dubbo/moved', entry('v', '6')]]), ownership: new Map([['/dubbo/moved', ours('5')]]) },
    expected: { conflict: ['/dubbo/moved'] },
  },
  {
    name: 'foreign: in etcd, no record, not in ZooKeeper -> kept',
    input: { desired: new Map(), current: new Map([['/dubbo/theirs', entry('v', '5')]]), ownership: new Map() },
    expected: { foreign: ['/dubbo/theirs'] },
  },
  {
    name: 'a record for a key absent on both sides plans nothing',
    input: { desired: new Map(), current: new Map(), ownership: new Map([['/dubbo/ghost', ours('5')]]) },
    expected: {},
  },
  {
    name: 'keys: only the given subset is planned',
    input: {
      desired: new Map([
        ['/dubbo/a', b('a')],
        ['/dubbo/b', b('b')],
      ]),
      current: new Map([
        ['/dubbo/c', entry('c', '3')],
        ['/dubbo/d', entry('d', '4')],
      ]),
      ownership: new Map([['/dubbo/c', ours('3')]]),
      keys: ['/dubbo/b', '/dubbo/c'],
    },
    expected: { missing: [{ key: '/dubbo/b', value: hex('b'), expect: { absent: true } }], extra: [{ key: '/dubbo/c', modRevision: '3' }] },
  },
  {
    name: 'keys: a key resolved on both sides (gone everywhere) drops out',
    input: { desired: new Map(), current: new Map(), ownership: new Map(), keys: ['/dubbo/resolved'] },
    expected: {},
  },
  {
    name: 'keys: duplicates are planned once',
    input: { desired: new Map([['/dubbo/a', b('a')]]), current: new Map(), ownership: new Map(), keys: ['/dubbo/a', '/dubbo/a'] },
    expected: { missing: [{ key: '/dubbo/a', value: hex('a'), expect: { absent: true } }] },
  },
  {
    name: 'keys: an empty subset plans nothing',
    input: { desired: new Map([['/dubbo/a', b('a')]]), current: new Map([['/dubbo/x', entry('x', '1')]]), ownership: new Map(), keys: [] },
    expected: {},
  },
  {
    name: 'output lists are sorted by key whatever the input order',
    input: {
      desired: new Map([
        ['/dubbo/m2', b('1')],
        ['/dubbo/c2', b('new')],
        ['/dubbo/m1', b('1')],
        ['/dubbo/c1', b('new')],
      ]),
      current: new Map([
        ['/dubbo/f2', entry('x', '1')],
        ['/dubbo/c2', entry('old', '2')],
        ['/dubbo/x2', entry('x', '3')],
        ['/dubbo/k2', entry('x', '9')],
        ['/dubbo/f1', entry('x', '1')],
        ['/dubbo/c1', entry('old', '2')],
        ['/dubbo/x1', entry('x', '3')],
        ['/dubbo/k1', entry('x', '9')],
      ]),
      ownership: new Map([
        ['/dubbo/x2', ours('3')],
        ['/dubbo/x1', ours('3')],
        ['/dubbo/k2', ours('8')],
        ['/dubbo/k1', ours('8')],
      ]),
    },
    expected: {
      missing: [
        { key: '/dubbo/m1', value: hex('1'), expect: { absent: true } },
        { key: '/dubbo/m2', value: hex('1'), expect: { absent: true } },
      ],
      changed: [
        { key: '/dubbo/c1', value: hex('new'), expect: { modRevision: '2' } },
        { key: '/dubbo/c2', value: hex('new'), expect: { modRevision: '2' } },
      ],
      extra: [
        { key: '/dubbo/x1', modRevision: '3' },
        { key: '/dubbo/x2', modRevision: '3' },
      ],
      foreign: ['/dubbo/f1', '/dubbo/f2'],
      conflict: ['/dubbo/k1', '/dubbo/k2'],
    },
  },
];

describe('plan', () => {
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(summarize(plan(c.input)), { ...EMPTY, ...c.expected }));
  }

  // The reconcile's chunks plan by merging sorted lists: every case that plans both whole sides, again.
  for (const c of cases.filter((x) => x.input.keys === undefined)) {
    test(`planSorted: ${c.name}`, () => {
      const desired = inKeyOrder([...c.input.desired].map(([key, value]) => ({ key, value })));
      const current = inKeyOrder([...c.input.current].map(([key, e]) => ({ key, ...e })));
      assert.deepEqual(summarize(planSorted({ desired, current, ownership: c.input.ownership })), { ...EMPTY, ...c.expected });
    });
  }

  test('sorting is by code unit, so unicode and URL-encoded keys order deterministically', () => {
    const keys = ['/dubbo/ü', '/dubbo/%2F', '/dubbo/Z', '/dubbo/a', '/dubbo/服务'];
    const p = plan({ desired: new Map(keys.map((k) => [k, b('v')])), current: new Map(), ownership: new Map() });
    assert.deepEqual(
      p.missing.map((a) => a.key),
      ['/dubbo/%2F', '/dubbo/Z', '/dubbo/a', '/dubbo/ü', '/dubbo/服务'],
    );
  });

  test('the same input in a different insertion order gives the same plan', () => {
    const desired: [string, Buffer][] = [
      ['/dubbo/b', b('1')],
      ['/dubbo/a', b('2')],
      ['/dubbo/c', b('3')],
    ];
    const current: [string, EtcdEntry][] = [
      ['/dubbo/c', entry('old', '4')],
      ['/dubbo/z', entry('x', '5')],
      ['/dubbo/y', entry('x', '6')],
    ];
    const ownership = new Map([['/dubbo/y', ours('6')]]);
    const forward = plan({ desired: new Map(desired), current: new Map(current), ownership });
    const backward = plan({ desired: new Map([...desired].reverse()), current: new Map([...current].reverse()), ownership });
    assert.deepEqual(summarize(forward), summarize(backward));
  });

  test('the planned value is the ZooKeeper buffer, byte for byte', () => {
    const big = Buffer.alloc(1024 * 1024, 0xab);
    const p = plan({ desired: new Map([['/dubbo/big', big]]), current: new Map(), ownership: new Map() });
    assert.equal(p.missing.length, 1);
    assert.ok(p.missing[0]?.value.equals(big));
  });
});

describe('plannedKeys and differenceCount', () => {
  const p = plan({
    desired: new Map([
      ['/dubbo/missing', b('m')],
      ['/dubbo/changed', b('new')],
      ['/dubbo/same', b('s')],
    ]),
    current: new Map([
      ['/dubbo/changed', entry('old', '2')],
      ['/dubbo/same', entry('s', '3')],
      ['/dubbo/extra', entry('e', '4')],
      ['/dubbo/conflict', entry('c', '5')],
      ['/dubbo/foreign', entry('f', '6')],
    ]),
    ownership: new Map([
      ['/dubbo/extra', ours('4')],
      ['/dubbo/conflict', ours('1')],
    ]),
  });

  test('plannedKeys: missing, changed, extra and conflict, never foreign or in-sync keys', () => {
    assert.deepEqual(plannedKeys(p), ['/dubbo/missing', '/dubbo/changed', '/dubbo/extra', '/dubbo/conflict']);
  });

  test('differenceCount counts only what a fix acts on (missing + changed + extra)', () => {
    assert.equal(differenceCount(p), 3);
  });

  test('an in-sync plan has no differences and no planned keys', () => {
    const same = plan({ desired: new Map([['/dubbo', b('')]]), current: new Map([['/dubbo', entry('', '1')]]), ownership: new Map() });
    assert.equal(differenceCount(same), 0);
    assert.deepEqual(plannedKeys(same), []);
    assert.equal(same.inSync, 1);
  });

  test('conflicts and foreign keys alone are not differences', () => {
    const kept = plan({
      desired: new Map(),
      current: new Map([
        ['/dubbo/c', entry('c', '9')],
        ['/dubbo/f', entry('f', '9')],
      ]),
      ownership: new Map([['/dubbo/c', ours('8')]]),
    });
    assert.equal(differenceCount(kept), 0);
    assert.deepEqual(plannedKeys(kept), ['/dubbo/c']);
  });
});

describe('plan: stale ownership records', () => {
  const cases: { name: string; input: PlanInput; expected: [string, string][] }[] = [
    {
      name: 'a record whose key is in neither etcd nor ZooKeeper is stale',
      input: { desired: new Map(), current: new Map(), ownership: new Map(), records: new Map([['/dubbo/gone', 'pending']]) },
      expected: [['/dubbo/gone', 'pending']],
    },
    {
      name: 'a record whose key is still in etcd is not stale',
      input: { desired: new Map(), current: new Map([['/dubbo/a', entry('v', '4')]]), ownership: new Map(), records: new Map([['/dubbo/a', '4']]) },
      expected: [],
    },
    {
      name: 'a record whose key is about to be created (in ZooKeeper) is not stale',
      input: { desired: new Map([['/dubbo/b', b('v')]]), current: new Map(), ownership: new Map(), records: new Map([['/dubbo/b', '3']]) },
      expected: [],
    },
    {
      name: 'without records nothing is stale',
      input: { desired: new Map(), current: new Map(), ownership: new Map() },
      expected: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual([...plan(c.input).staleRecords], c.expected));
  }
});


describe('plan: pending records of in-sync keys (a crash between the etcd commit and recording its revision)', () => {
  const cases: { name: string; input: PlanInput; expected: { key: string; modRevision: string }[] }[] = [
    {
      name: 'an in-sync key with a pending record is unsettled, at the mod revision seen in sync',
      input: { desired: new Map([['/dubbo/a', b('v')]]), current: new Map([['/dubbo/a', entry('v', '12')]]), ownership: new Map(), records: new Map([['/dubbo/a', 'pending']]) },
      expected: [{ key: '/dubbo/a', modRevision: '12' }],
    },
    {
      name: 'an in-sync key recorded at a revision is settled already',
      input: { desired: new Map([['/dubbo/a', b('v')]]), current: new Map([['/dubbo/a', entry('v', '12')]]), ownership: new Map(), records: new Map([['/dubbo/a', '12']]) },
      expected: [],
    },
    {
      name: 'a changed key with a pending record is not: the fix writes it and records the new revision',
      input: { desired: new Map([['/dubbo/a', b('new')]]), current: new Map([['/dubbo/a', entry('old', '12')]]), ownership: new Map(), records: new Map([['/dubbo/a', 'pending']]) },
      expected: [],
    },
    {
      name: 'a missing key with a pending record is not: the fix creates it',
      input: { desired: new Map([['/dubbo/a', b('v')]]), current: new Map(), ownership: new Map(), records: new Map([['/dubbo/a', 'pending']]) },
      expected: [],
    },
    {
      name: 'an extra key with a pending record is not: the fix deletes it',
      input: { desired: new Map(), current: new Map([['/dubbo/a', entry('v', '12')]]), ownership: new Map([['/dubbo/a', PENDING]]), records: new Map([['/dubbo/a', 'pending']]) },
      expected: [],
    },
    {
      name: 'binary values compare as bytes: equal as lossy text is not in sync',
      input: {
        desired: new Map([['/dubbo/a', INVALID_UTF8]]),
        current: new Map([['/dubbo/a', entry(INVALID_UTF8_OTHER, '5')]]),
        ownership: new Map(),
        records: new Map([['/dubbo/a', 'pending']]),
      },
      expected: [],
    },
    {
      name: 'sorted by key',
      input: {
        desired: new Map([['/dubbo/b', b('v')], ['/dubbo/a', NUL_BINARY]]),
        current: new Map([['/dubbo/b', entry('v', '3')], ['/dubbo/a', entry(NUL_BINARY, '4')]]),
        ownership: new Map(),
        records: new Map([['/dubbo/b', 'pending'], ['/dubbo/a', 'pending']]),
      },
      expected: [{ key: '/dubbo/a', modRevision: '4' }, { key: '/dubbo/b', modRevision: '3' }],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const p = plan(c.input);
      assert.deepEqual(p.unsettled, c.expected);
      assert.equal(p.staleRecords.size, 0, 'never stale: the key exists');
    });
  }
});
