import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApplyResult } from '../../common/apply/writer.js';
import type { Plan } from '../../common/plan/plan.js';
import { SummaryCollector } from '../../common/plan/summary.js';
import type { ReconcileResult } from '../../common/reconcile.js';
import { KEY_LIST_CAP, buildReport, exitCodeFor, formatText } from '../../functions/report.js';

/** The report of diff/fix/reconcile: JSON shape, caps and exit codes (SPEC §8). */

const keys = (kind: string, n: number) => Array.from({ length: n }, (_, i) => `/dubbo/${kind}/${String(i).padStart(6, '0')}`);

interface PlanSizes {
  missing?: number;
  changed?: number;
  extra?: number;
  foreign?: number;
  conflict?: number;
  inSync?: number;
}
function planOf(sizes: PlanSizes): Plan {
  return {
    missing: keys('missing', sizes.missing ?? 0).map((key) => ({ key, value: Buffer.from('v'), expect: { absent: true } as const })),
    changed: keys('changed', sizes.changed ?? 0).map((key) => ({ key, value: Buffer.from('v'), expect: { modRevision: '7' } })),
    extra: keys('extra', sizes.extra ?? 0).map((key) => ({ key, modRevision: '9' })),
    foreign: keys('foreign', sizes.foreign ?? 0),
    conflict: keys('conflict', sizes.conflict ?? 0),
    inSync: sizes.inSync ?? 0,
    staleRecords: new Map(),
    unsettled: [],
  };
}
const applied = (put: number, del: number, skipped: number): ApplyResult => ({ put, delete: del, skipped, skippedKeys: keys('skipped', skipped), refusedKeys: [] });
function result(sizes: PlanSizes, apply: ApplyResult | null, extra: Partial<ReconcileResult> = {}): ReconcileResult {
  const collector = new SummaryCollector();
  collector.add(planOf(sizes));
  return { zkNodes: 100, etcdKeys: 90, summary: collector.summary(), applied: apply, durationSeconds: 1.23456, ...extra };
}

const SPEC_KEYS = ['inSync', 'counts', 'missing', 'changed', 'extra', 'applied', 'durationSeconds'];
const COUNT_KEYS = ['zookeeper', 'etcd', 'missing', 'changed', 'extra', 'foreign', 'conflict'];

describe('buildReport: JSON shape (SPEC §8)', () => {
  const report = buildReport(result({ missing: 2, changed: 1, extra: 1, foreign: 3, conflict: 1, inSync: 80 }, null), false);
  const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;

  test('has every key SPEC §8 names, with the documented types', () => {
    for (const k of SPEC_KEYS) assert.ok(k in json, `missing key ${k}`);
    assert.equal(typeof json.inSync, 'boolean');
    assert.equal(typeof json.durationSeconds, 'number');
    for (const k of ['missing', 'changed', 'extra']) assert.ok(Array.isArray(json[k]), `${k} is not an array`);
    assert.ok(json.applied === null || typeof json.applied === 'object');
  });

  test('counts has exactly the SPEC §8 keys', () => {
    assert.deepEqual(Object.keys(json.counts as object).sort(), [...COUNT_KEYS].sort());
  });

  test('top-level keys: the SPEC §8 keys plus the documented extras foreign, conflict and dryRun', () => {
    // SPEC §8 lists the required keys; it does not forbid more. The report also lists the kept keys
    // (foreign, conflict) and whether it was a dry run. Pinned here so a change is deliberate.
    assert.deepEqual(Object.keys(json).sort(), [...SPEC_KEYS, 'foreign', 'conflict', 'dryRun'].sort());
  });

  test('values come from the result and its plan', () => {
    assert.deepEqual(json, {
      inSync: false,
      counts: { zookeeper: 100, etcd: 90, missing: 2, changed: 1, extra: 1, foreign: 3, conflict: 1 },
      missing: keys('missing', 2),
      changed: keys('changed', 1),
      extra: keys('extra', 1),
      foreign: keys('foreign', 3),
      conflict: keys('conflict', 1),
      applied: null,
      dryRun: false,
      durationSeconds: 1.235,
    });
  });

  test('no truncated key when nothing is capped', () => {
    assert.ok(!('truncated' in json));
  });

  test('applied is {put, delete, skipped} only (skipped keys stay out of the document)', () => {
    const r = buildReport(result({ missing: 1, extra: 1 }, applied(1, 1, 0)), false);
    assert.deepEqual(JSON.parse(JSON.stringify(r)).applied, { put: 1, delete: 1, skipped: 0 });
  });
});

describe('buildReport: key lists are capped, counts are not', () => {
  const over = KEY_LIST_CAP + 5;
  const cases: { name: string; sizes: PlanSizes; truncated: boolean }[] = [
    { name: 'missing over the cap', sizes: { missing: over }, truncated: true },
    { name: 'changed over the cap', sizes: { changed: over }, truncated: true },
    { name: 'extra over the cap', sizes: { extra: over }, truncated: true },
    { name: 'foreign over the cap', sizes: { foreign: over }, truncated: true },
    { name: 'conflict over the cap', sizes: { conflict: over }, truncated: true },
    { name: 'exactly at the cap is not truncated', sizes: { missing: KEY_LIST_CAP, changed: KEY_LIST_CAP, extra: KEY_LIST_CAP }, truncated: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = buildReport(result(c.sizes, null), false);
      for (const kind of ['missing', 'changed', 'extra', 'foreign', 'conflict'] as const) {
        const n = c.sizes[kind] ?? 0;
        assert.equal(r.counts[kind], n, `counts.${kind} must not be capped`);
        assert.equal(r[kind].length, Math.min(n, KEY_LIST_CAP), `${kind} list length`);
        assert.deepEqual(r[kind], keys(kind, n).slice(0, KEY_LIST_CAP), `${kind} keeps the first keys in order`);
      }
      if (c.truncated) assert.equal(r.truncated, true);
      else assert.ok(!('truncated' in r));
    });
  }
});

describe('exitCodeFor', () => {
  const cases: { name: string; result: ReconcileResult; dryRun: boolean; expectedCode: number; expectedApplied: unknown }[] = [
    { name: 'diff, in sync: 0', result: result({ inSync: 10 }, null), dryRun: false, expectedCode: 0, expectedApplied: null },
    { name: 'diff, differences found: 3', result: result({ missing: 1 }, null), dryRun: false, expectedCode: 3, expectedApplied: null },
    { name: 'diff, only an extra key: 3', result: result({ extra: 1 }, null), dryRun: false, expectedCode: 3, expectedApplied: null },
    { name: 'diff, only foreign and conflict keys (kept by rule): 0', result: result({ foreign: 2, conflict: 2 }, null), dryRun: false, expectedCode: 0, expectedApplied: null },
    {
      name: 'fix, everything applied: 0',
      result: result({ missing: 2, changed: 1, extra: 1 }, applied(3, 1, 0)),
      dryRun: false,
      expectedCode: 0,
      expectedApplied: { put: 3, delete: 1, skipped: 0 },
    },
    {
      name: 'fix, some ops skipped (another writer moved first): 3',
      result: result({ missing: 2 }, applied(1, 0, 1)),
      dryRun: false,
      expectedCode: 3,
      expectedApplied: { put: 1, delete: 0, skipped: 1 },
    },
    { name: 'fix, already in sync: 0', result: result({ inSync: 5 }, applied(0, 0, 0)), dryRun: false, expectedCode: 0, expectedApplied: { put: 0, delete: 0, skipped: 0 } },
    { name: 'fix --dry-run with differences: applied null, 3', result: result({ missing: 2, extra: 1 }, applied(0, 0, 0)), dryRun: true, expectedCode: 3, expectedApplied: null },
    { name: 'fix --dry-run in sync: applied null, 0', result: result({ inSync: 5 }, applied(0, 0, 0)), dryRun: true, expectedCode: 0, expectedApplied: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const report = buildReport(c.result, c.dryRun);
      assert.deepEqual(report.applied, c.expectedApplied);
      assert.equal(report.dryRun, c.dryRun);
      assert.equal(exitCodeFor(report), c.expectedCode);
    });
  }
});

describe('formatText', () => {
  const cases: { name: string; command: string; result: ReconcileResult; dryRun: boolean; includes: string[]; excludes: string[] }[] = [
    {
      name: 'in sync',
      command: 'diff',
      result: result({ inSync: 10 }, null, { durationSeconds: 2.5 }),
      dryRun: false,
      includes: ['zk2etcd diff: in sync in 2.50s', 'zookeeper nodes   100', 'etcd keys         90'],
      excludes: ['applied:', 'missing:'],
    },
    {
      name: 'differences found lists the keys by kind',
      command: 'diff',
      result: result({ missing: 1, changed: 1, extra: 1, conflict: 1, foreign: 1 }, null),
      dryRun: false,
      includes: ['NOT in sync', 'missing:\n  /dubbo/missing/000000', 'changed:\n  /dubbo/changed/000000', 'extra:\n  /dubbo/extra/000000', 'conflict:\n  /dubbo/conflict/000000'],
      excludes: ['applied:', 'differences fixed'],
    },
    {
      name: 'a full fix',
      command: 'fix',
      result: result({ missing: 2, extra: 1 }, applied(2, 1, 0)),
      dryRun: false,
      includes: ['zk2etcd fix: differences fixed', 'applied: put 2, delete 1, skipped 0'],
      excludes: ['left unfixed', 'dry run'],
    },
    {
      name: 'a fix with skipped ops',
      command: 'fix',
      result: result({ missing: 2 }, applied(1, 0, 1)),
      dryRun: false,
      includes: ['zk2etcd fix: differences left unfixed', 'skipped 1'],
      excludes: ['differences fixed'],
    },
    {
      name: 'a dry run says nothing changed',
      command: 'fix',
      result: result({ missing: 2 }, applied(0, 0, 0)),
      dryRun: true,
      includes: ['NOT in sync (dry run: nothing changed)'],
      excludes: ['applied:'],
    },
    {
      name: 'long lists show 20 keys and how many more',
      command: 'diff',
      result: result({ missing: 25_000 }, null),
      dryRun: false,
      includes: ['missing           25,000', '  /dubbo/missing/000019', '... and 24,980 more'],
      excludes: ['/dubbo/missing/000020'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const text = formatText(c.command, buildReport(c.result, c.dryRun));
      for (const s of c.includes) assert.ok(text.includes(s), `expected ${JSON.stringify(s)} in:\n${text}`);
      for (const s of c.excludes) assert.ok(!text.includes(s), `did not expect ${JSON.stringify(s)} in:\n${text}`);
    });
  }
});
