import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SingleRun } from '../../watcher/single-run.js';

/** A run held open until the test ends it. */
function controllable() {
  const calls: string[] = [];
  const ends: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const runner = new SingleRun<string>(
    (arg) =>
      new Promise<void>((resolve, reject) => {
        calls.push(arg);
        ends.push({ resolve, reject });
      }),
  );
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  return { calls, ends, runner, tick };
}

describe('SingleRun (the watcher\'s full reconciles: one at a time)', () => {
  test('idle: a request runs at once; current is its promise, then null', async () => {
    const { calls, ends, runner, tick } = controllable();
    assert.equal(runner.current, null);
    const p = runner.request('became leader');
    assert.deepEqual(calls, ['became leader']);
    assert.equal(runner.current, p);
    ends[0]?.resolve();
    await p;
    await tick();
    assert.equal(runner.current, null);
  });

  test('requests during a run queue one more run, with the latest argument; the requesters wait for the run in progress', async () => {
    const { calls, ends, runner, tick } = controllable();
    const first = runner.request('scheduled');
    const second = runner.request('reconnected');
    const third = runner.request('session rebuilt');
    assert.equal(second, first);
    assert.equal(third, first);
    assert.deepEqual(calls, ['scheduled']);
    ends[0]?.resolve();
    await tick();
    assert.deepEqual(calls, ['scheduled', 'session rebuilt'], 'one more run, the latest reason');
    ends[1]?.resolve();
    await first;
    assert.equal(runner.current, null);
  });

  test('a failed run rejects every waiter and drops the queued request (no surprise run later)', async () => {
    const { calls, ends, runner, tick } = controllable();
    const first = runner.request('scheduled');
    const queued = runner.request('reconnected');
    ends[0]?.reject(new Error('etcd down'));
    await assert.rejects(first, /etcd down/);
    await assert.rejects(queued, /etcd down/);
    await tick();
    assert.equal(runner.current, null);
    const next = runner.request('scheduled');
    assert.deepEqual(calls, ['scheduled', 'scheduled'], 'the dropped request did not run before this one');
    ends[1]?.resolve();
    await next;
  });
});
