import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mergePlans } from '../../common/plan/merge.js';
import type { Plan } from '../../common/plan/plan.js';

const put = (key: string) => ({ key, value: Buffer.from(key), expect: { absent: true as const } });
const del = (key: string) => ({ key, modRevision: '7' });
const chunk = (p: Partial<Plan>): Plan => ({ missing: [], changed: [], extra: [], foreign: [], conflict: [], inSync: 0, staleRecords: new Map(), unsettled: [], ...p });

describe('mergePlans (the chunks\' differences, for the later confirmation rounds)', () => {
  const cases: { name: string; plans: Plan[]; expected: { missing: string[]; extra: string[]; foreign: string[]; conflict: string[]; inSync: number } }[] = [
    { name: 'no chunk: an empty plan', plans: [], expected: { missing: [], extra: [], foreign: [], conflict: [], inSync: 0 } },
    {
      name: 'two chunks: each list merged in key order, in-sync counts summed',
      plans: [chunk({ missing: [put('/b'), put('/d')], extra: [del('/z')], foreign: ['/f2'], inSync: 3 }), chunk({ missing: [put('/a'), put('/c')], extra: [del('/y')], foreign: ['/f1'], conflict: ['/k'], inSync: 4 })],
      expected: { missing: ['/a', '/b', '/c', '/d'], extra: ['/y', '/z'], foreign: ['/f1', '/f2'], conflict: ['/k'], inSync: 7 },
    },
    {
      name: 'byte order, not locale order',
      plans: [chunk({ missing: [put('/a-b'), put('/a/b')] }), chunk({ missing: [put('/aB'), put('/a.b')] })],
      expected: { missing: ['/a-b', '/a.b', '/a/b', '/aB'], extra: [], foreign: [], conflict: [], inSync: 0 },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const m = mergePlans(c.plans);
      assert.deepEqual(
        { missing: m.missing.map((a) => a.key), extra: m.extra.map((a) => a.key), foreign: [...m.foreign], conflict: [...m.conflict], inSync: m.inSync },
        c.expected,
      );
      assert.equal(m.staleRecords.size, 0, 'record repairs run once, after the rounds');
      assert.deepEqual(m.unsettled, []);
    });
  }
});
