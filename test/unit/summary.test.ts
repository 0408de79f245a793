import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Plan } from '../../common/plan/plan.js';
import { KEY_LIST_CAP, SummaryCollector, summaryDifferences } from '../../common/plan/summary.js';

/** The summary a chunked reconcile adds up: exact counts, the first keys of each kind in sorted order. */

const planOf = (keys: { missing?: string[]; extra?: string[]; foreign?: string[]; inSync?: number }): Plan => ({
  missing: (keys.missing ?? []).sort().map((key) => ({ key, value: Buffer.from('v'), expect: { absent: true } })),
  changed: [],
  extra: (keys.extra ?? []).sort().map((key) => ({ key, modRevision: '3' })),
  foreign: (keys.foreign ?? []).sort(),
  conflict: [],
  inSync: keys.inSync ?? 0,
  staleRecords: new Map(),
  unsettled: [],
});
const range = (tag: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `/k/${tag}/${String(from + i).padStart(6, '0')}`);

describe('SummaryCollector', () => {
  test('counts add up across chunks', () => {
    const c = new SummaryCollector();
    c.add(planOf({ missing: range('m', 0, 3), inSync: 5 }));
    c.add(planOf({ extra: range('e', 0, 2), foreign: ['/k/f'], inSync: 7 }));
    const s = c.summary();
    assert.deepEqual(s.counts, { missing: 3, changed: 0, extra: 2, foreign: 1, conflict: 0, inSync: 12 });
    assert.equal(summaryDifferences(s), 5);
  });

  test('keeps the smallest KEY_LIST_CAP keys in order whatever order the chunks finish in', () => {
    const c = new SummaryCollector();
    for (const [from, to] of [[4000, 5000], [0, 700], [2500, 4000], [700, 2500]] as const) c.add(planOf({ missing: range('m', from, to) }));
    const s = c.summary();
    assert.equal(s.counts.missing, 5000);
    assert.deepEqual(s.keys.missing, range('m', 0, KEY_LIST_CAP));
  });

  test('an empty collector is in sync', () => {
    const s = new SummaryCollector().summary();
    assert.equal(summaryDifferences(s), 0);
    assert.deepEqual(s.keys.missing, []);
  });
});
