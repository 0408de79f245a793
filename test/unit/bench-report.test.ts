import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Sample, Step, StepKey } from '../../bench/report.js';
import { combine, markdown, summarize } from '../../bench/report.js';

/** The benchmark's ratios to the slower baseline: of the medians, and within each round. */

const NO_CPU = { zookeeper: null, etcd: null };
const sample = (wallSeconds: number): Sample => ({
  wallSeconds, cpuSeconds: 0, userSeconds: 0, systemSeconds: 0, maxRssMb: null, serverCpuSeconds: NO_CPU, notes: '',
});
/** A step whose samples are the given wall times, in round order. */
const step = (key: StepKey, walls: number[]): Step => combine(key, key, walls.map(sample));

describe('bench summary: ratios to the slower baseline', () => {
  const cases: { name: string; walk: number[]; puts: number[]; copy: number[]; diff: number[]; medians: [number, number]; copyRounds: number[]; diffRounds: number[] }[] = [
    {
      name: 'one round: both ratios agree',
      walk: [1], puts: [2], copy: [5], diff: [3],
      medians: [2.5, 1.5], copyRounds: [2.5], diffRounds: [1.5],
    },
    {
      name: 'a slow round: the ratio of medians mixes rounds, the per-round ratios do not',
      // Round 2 ran on a busy machine: every step took twice as long.
      walk: [1, 2, 1], puts: [2, 4, 2], copy: [5, 10, 5], diff: [3, 6, 3],
      medians: [2.5, 1.5], copyRounds: [2.5, 2.5, 2.5], diffRounds: [1.5, 1.5, 1.5],
    },
    {
      name: 'the slower baseline is taken per round (walk slower in one round, puts in another)',
      walk: [4, 1], puts: [2, 3], copy: [8, 9], diff: [6, 3],
      // Medians (the lower middle of two): walk 1, puts 2, copy 8, diff 3.
      medians: [4, 1.5], copyRounds: [2, 3], diffRounds: [1.5, 1],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const s = summarize([step('walk', c.walk), step('puts', c.puts), step('copy', c.copy), step('diff', c.diff)]);
      assert.equal(s.copyOverMaxBaseline, c.medians[0]);
      assert.equal(s.diffOverMaxBaseline, c.medians[1]);
      assert.deepEqual(s.perRound, { copyOverMaxBaseline: c.copyRounds, diffOverMaxBaseline: c.diffRounds });
    });
  }

  test('no baselines: no per-round ratios, and the report leaves the line out', () => {
    const steps = [step('copy', [5, 6]), step('diff', [3, 4])];
    const s = summarize(steps);
    assert.deepEqual(s.perRound, { copyOverMaxBaseline: [], diffOverMaxBaseline: [] });
    assert.ok(!markdown(steps, s, { title: 't', nodes: 10, runs: 2, failure: null }).includes('within each round'));
  });

  test('the report prints each round and the median', () => {
    const steps = [step('walk', [1, 2, 1]), step('puts', [2, 4, 2]), step('copy', [5, 12, 6]), step('diff', [3, 6, 2])];
    const text = markdown(steps, summarize(steps), { title: 't', nodes: 10, runs: 3, failure: null });
    assert.match(text, /within each round \(its own baselines\): copy 2\.50 \/ 3\.00 \/ 3\.00 \(median 3\.00\); diff 1\.50 \/ 1\.50 \/ 1\.00 \(median 1\.50\)/);
  });
});
