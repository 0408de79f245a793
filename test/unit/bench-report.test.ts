import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Sample, Step, StepKey } from '../../bench/report.js';
import { combine, cpuFloor, markdown, summarize } from '../../bench/report.js';

/** The benchmark's ratios to the slower baseline: of the medians, and within each round. */

const NO_CPU = { zookeeper: null, etcd: null, redis: null };
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

/** A sample with CPU: our process's and the servers'. */
const cpuSample = (wallSeconds: number, cpuSeconds: number, zookeeper: number | null, etcd: number | null, redis: number | null): Sample => ({
  ...sample(wallSeconds), cpuSeconds, serverCpuSeconds: { zookeeper, etcd, redis },
});

describe('bench summary: the CPU floor', () => {
  // One round: walk 1.0 s wall (client 0.5 s + ZooKeeper 0.6 s CPU), puts 1.2 s wall (etcd 1.0 s CPU).
  // Each baseline's CPU on the other servers (etcd 0.2 and Redis 0.3 during the walk; ZooKeeper 0.4
  // and Redis 0.5 during the puts) belongs to no term of the floor.
  const walk = cpuSample(1.0, 0.5, 0.6, 0.2, 0.3);
  const puts = cpuSample(1.2, 0.8, 0.4, 1.0, 0.5);
  const cases: { name: string; of: Sample; kind: 'copy' | 'diff'; cores: number; floor: number | null }[] = [
    // The copy's own etcd CPU (1.6) is not used: the writes' floor is the puts baseline's 1.0.
    { name: 'copy: walk client + ZooKeeper + etcd of the puts + Redis of the copy', of: cpuSample(3, 2.5, 0.7, 1.6, 0.4), kind: 'copy', cores: 2, floor: (0.5 + 0.6 + 1.0 + 0.4) / 2 },
    { name: 'diff: etcd of the diff itself (its range reads), not of the puts', of: cpuSample(2, 1.8, 0.6, 0.3, 0.1), kind: 'diff', cores: 2, floor: (0.5 + 0.6 + 0.3 + 0.1) / 2 },
    { name: 'one core: the whole sum', of: cpuSample(3, 2.5, 0.7, 1.6, 0.4), kind: 'copy', cores: 1, floor: 0.5 + 0.6 + 1.0 + 0.4 },
    { name: 'Redis not readable: no floor', of: cpuSample(3, 2.5, 0.7, 1.6, null), kind: 'copy', cores: 2, floor: null },
    { name: 'no cores given: no floor', of: cpuSample(3, 2.5, 0.7, 1.6, 0.4), kind: 'copy', cores: 0, floor: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = cpuFloor(walk, puts, c.of, c.kind, c.cores);
      if (c.floor === null) assert.equal(got, null);
      else assert.ok(got !== null && Math.abs(got - c.floor) < 1e-9, `floor ${got} != ${c.floor}`);
    });
  }

  test('per round, beside 1.3x the slower baseline of that round, and printed with the rounds above target marked', () => {
    const w = (x: number) => cpuSample(x, 0.5, 0.6, 0, 0);
    const steps = [
      combine('walk', 'walk', [w(1.0), w(2.0)]),
      combine('puts', 'puts', [cpuSample(1.2, 0.8, 0, 1.0, 0), cpuSample(1.0, 0.8, 0, 1.0, 0)]),
      combine('copy', 'copy', [cpuSample(3, 2.5, 0.7, 1.6, 0.4), cpuSample(3, 2.5, 0.7, 1.6, 0.9)]),
      combine('diff', 'diff', [cpuSample(2, 1.8, 0.6, 0.3, 0.1), cpuSample(2, 1.8, 0.6, 0.3, 0.1)]),
    ];
    const s = summarize(steps, 2);
    assert.ok(s.floors);
    assert.deepEqual(s.floors.copy.map((x) => x.toFixed(3)), ['1.250', '1.500']);
    assert.deepEqual(s.floors.diff.map((x) => x.toFixed(3)), ['0.750', '0.750']);
    assert.deepEqual(s.floors.target.map((x) => x.toFixed(3)), ['1.560', '2.600']);
    const text = markdown(steps, s, { title: 't', nodes: 10, runs: 2, failure: null });
    assert.match(text, /CPU floor on 2 cores .* copy 1\.25 vs 1\.56 s \/ 1\.50 vs 2\.60 s; diff 0\.75 vs 1\.56 s \/ 0\.75 vs 2\.60 s/);
    assert.ok(!text.includes('floor above target'));
    const slow = summarize([steps[0]!, steps[1]!, combine('copy', 'copy', [cpuSample(3, 2.5, 0.7, 1.6, 2.0), cpuSample(3, 2.5, 0.7, 1.6, 0.4)]), steps[3]!], 2);
    assert.match(markdown(steps, slow, { title: 't', nodes: 10, runs: 2, failure: null }), /copy 2\.05 vs 1\.56 s \(floor above target\) \/ 1\.25 vs 2\.60 s;/);
  });

  test('without cores, or with a server unreadable in a round, no floor line', () => {
    const steps = [
      combine('walk', 'walk', [cpuSample(1, 0.5, 0.6, 0, 0)]),
      combine('puts', 'puts', [cpuSample(1.2, 0.8, 0, 1.0, 0)]),
      combine('copy', 'copy', [cpuSample(3, 2.5, 0.7, 1.6, null)]),
      combine('diff', 'diff', [cpuSample(2, 1.8, 0.6, 0.3, 0.1)]),
    ];
    assert.equal(summarize(steps).floors, null);
    const s = summarize(steps, 2);
    assert.equal(s.floors, null);
    assert.ok(!markdown(steps, s, { title: 't', nodes: 10, runs: 1, failure: null }).includes('CPU floor'));
  });
});

describe('bench summary: the absolute targets of the size', () => {
  /** copy 3.2 s, diff 1.6 s, the CLI's peak RSS 431 MB. */
  const steps = (): Step[] => [
    step('walk', [1]),
    step('puts', [1]),
    combine('copy', 'copy', [{ ...sample(3.2), maxRssMb: 300 }]),
    combine('diff', 'diff', [{ ...sample(1.6), maxRssMb: 431 }]),
  ];
  const cases: { size: string; line: RegExp | null }[] = [
    { size: '70k', line: /^- issue #2's targets at this size: copy < 15 s: PASS \(3\.20\); in-sync diff < 12 s: PASS \(1\.60\); peak RSS < 400 MB: FAIL \(431\)$/m },
    { size: '1m', line: /^- issue #6's targets at this size: peak RSS < 1536 MB: PASS \(431\)$/m },
    { size: '300k', line: null },
    { size: '10k', line: null },
  ];
  for (const c of cases) {
    test(`${c.size}: ${c.line ? 'its targets only' : 'none printed'}`, () => {
      const s = summarize(steps(), 2, c.size);
      const text = markdown(steps(), s, { title: 't', nodes: 10, runs: 1, failure: null });
      if (c.line) assert.match(text, c.line);
      else {
        assert.equal(s.targets, null);
        assert.doesNotMatch(text, /targets at this size/);
      }
    });
  }
});
