import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AbortedError, EtcdError, isRetryable, LeadershipLostError, OwnershipUnavailableError } from '../../common/errors.js';
import { buf, harness, settle, track } from '../helpers/change-queue-fakes.js';
import { prng } from '../helpers/prng.js';

/** The watcher's change queue: concurrent flushes, one flush per key at a time (watcher/change-queue.ts). */

/** The first backoff step of the queue (100 ms · 2^1). */
const BACKOFF_MS = 200;

describe('ChangeQueue runs flushes concurrently', () => {
  const cases: { name: string; maxInFlight?: number; keys: number; expected: number }[] = [
    { name: 'one at a time with maxInFlight 1', maxInFlight: 1, keys: 6, expected: 1 },
    { name: 'one at a time by default', keys: 6, expected: 1 },
    { name: 'up to maxInFlight', maxInFlight: 3, keys: 6, expected: 3 },
    { name: 'no more flushes than there are keys', maxInFlight: 8, keys: 3, expected: 3 },
  ];
  for (const c of cases) {
    test(`disjoint keys: ${c.name}`, async () => {
      const { world, queue } = harness({ maxBatch: 1, maxInFlight: c.maxInFlight });
      for (let i = 0; i < c.keys; i++) queue.push(`/k${i}`, buf(`v${i}`));
      await settle();
      assert.equal(world.active.size, c.expected);
      assert.equal(queue.size, c.keys - c.expected, 'the rest waits for a free slot');
      while (world.active.size > 0) {
        for (const f of [...world.active]) f.succeed();
        await settle();
      }
      await queue.idle();
      assert.equal(world.maxActive, c.expected);
      assert.equal(world.flights.length, c.keys);
      assert.deepEqual(world.contents(), Object.fromEntries(Array.from({ length: c.keys }, (_, i) => [`/k${i}`, `v${i}`])));
    });
  }

  test('a change arriving during a flush starts its own flush at once', async () => {
    const { world, queue } = harness();
    queue.push('/a', buf('1'));
    queue.push('/b', buf('1'));
    await settle();
    assert.deepEqual(world.flights.map((f) => f.keys), [['/a', '/b']], 'changes pushed together share a flush');
    queue.push('/c', buf('1'));
    await settle();
    assert.deepEqual(world.flights.map((f) => f.keys), [['/a', '/b'], ['/c']]);
    assert.equal(world.active.size, 2);
    world.flights[1]?.succeed();
    await settle();
    assert.deepEqual(world.contents(), { '/c': '1' }, 'the later flush committed while the earlier one was still in flight');
    world.flights[0]?.succeed();
    await queue.idle();
    assert.deepEqual(world.contents(), { '/a': '1', '/b': '1', '/c': '1' });
  });
});

describe('ChangeQueue keeps one flush per key', () => {
  test('a key in flight waits, coalesces, and its latest value wins with the earliest since', async () => {
    const { world, queue, lags } = harness();
    queue.push('/k', buf('v1'));
    await settle();
    const t0 = performance.now();
    queue.push('/k', buf('v2'), t0 - 60_000);
    queue.push('/k', buf('v3'), t0);
    queue.push('/other', buf('o'));
    await settle();
    assert.deepEqual(world.flights.map((f) => f.keys), [['/k'], ['/other']], '/k is not taken while in flight');
    assert.equal(queue.size, 1);
    world.flights[1]?.succeed();
    await settle();
    assert.equal(world.flights.length, 2, '/k still waits for its own flight, not for a free slot');
    world.flights[0]?.succeed();
    await settle();
    assert.equal(world.flights.length, 3);
    assert.deepEqual([...(world.flights[2]?.values ?? [])], [['/k', 'v3']]);
    world.flights[2]?.succeed();
    await queue.idle();
    assert.deepEqual(world.contents(), { '/k': 'v3', '/other': 'o' });
    assert.ok((lags.at(-1) ?? 0) >= 60, `the coalesced change is measured from its earliest since (lag ${lags.at(-1)} s)`);
    assert.deepEqual(world.overlaps, []);
  });

  test('a delete waits for the put in flight on the same key', async () => {
    const { world, queue } = harness();
    queue.push('/k', buf('v1'));
    await settle();
    queue.push('/k', null);
    await settle();
    assert.equal(world.flights.length, 1);
    world.flights[0]?.succeed();
    world.records.set('/k', { kind: 'pending' });
    await settle();
    assert.deepEqual([...(world.flights[1]?.values ?? [])], [['/k', null]], 'planned as a delete from the state after the put');
    world.flights[1]?.succeed();
    await queue.idle();
    assert.deepEqual(world.contents(), {});
  });

  test('random changes on a few hot keys: never two flushes of a key at once, the last value lands', async () => {
    const rnd = prng(7);
    const { world, queue } = harness({ maxBatch: 3, maxInFlight: 4 });
    world.autoDelayMs = () => Math.floor(rnd() * 4);
    const last = new Map<string, string>();
    for (let i = 0; i < 400; i++) {
      const key = `/k${Math.floor(rnd() * 8)}`;
      last.set(key, `v${i}`);
      queue.push(key, buf(`v${i}`));
      if (rnd() < 0.3) await new Promise((resolve) => setTimeout(resolve, Math.floor(rnd() * 3)));
    }
    await queue.idle();
    assert.deepEqual(world.overlaps, []);
    assert.ok(world.maxActive > 1, `flushes overlapped (max ${world.maxActive})`);
    assert.ok(world.maxActive <= 4);
    assert.deepEqual(world.contents(), Object.fromEntries(last));
  });

  test('skipped keys are re-planned; a newer pending change replaces the skipped one', async () => {
    const { world, queue } = harness();
    queue.push('/a', buf('a1'));
    queue.push('/b', buf('b1'));
    await settle();
    queue.push('/b', buf('b2'));
    world.flights[0]?.succeed(['/a', '/b']);
    await settle();
    assert.deepEqual([...(world.flights[1]?.values ?? [])].sort(), [['/a', 'a1'], ['/b', 'b2']]);
    world.flights[1]?.succeed();
    await queue.idle();
    assert.deepEqual(world.contents(), { '/a': 'a1', '/b': 'b2' });
  });
});

describe('ChangeQueue failures', () => {
  const errors: { name: string; err: unknown }[] = [
    { name: 'Redis down', err: new OwnershipUnavailableError('redis down') },
    { name: 'etcd unavailable', err: new EtcdError('txn', 'unavailable', true, 'unavailable') },
    { name: 'aborted', err: new AbortedError() },
    { name: 'leadership lost', err: new LeadershipLostError('lost') },
    { name: 'etcd permission denied', err: new EtcdError('txn', 'denied', false, 'permission_denied') },
    { name: 'a bug', err: new TypeError('bug') },
  ];

  for (const { name, err } of errors.filter((e) => isRetryable(e.err))) {
    test(`retryable (${name}): keys come back after the backoff, newer values kept with the older since`, async () => {
      const { world, queue, fatal, warnings, lags } = harness();
      const t0 = performance.now();
      queue.push('/a', buf('a1'), t0 - 60_000);
      queue.push('/b', buf('b1'));
      await settle();
      queue.push('/a', buf('a2'), t0);
      world.flights[0]?.fail(err);
      const failedAt = performance.now();
      await settle();
      queue.push('/c', buf('c1'));
      await settle();
      assert.equal(world.flights.length, 1, 'no flush starts during the backoff');
      assert.equal(queue.size, 3);
      assert.equal(warnings.length, 1);
      const idle = track(queue.idle());
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS + 50));
      assert.equal(idle.done, false, 'not idle while the retried keys are in flight');
      assert.equal(world.flights.length, 2);
      assert.ok(performance.now() - failedAt >= BACKOFF_MS - 5);
      assert.deepEqual(Object.fromEntries(world.flights[1]?.values ?? []), { '/a': 'a2', '/b': 'b1', '/c': 'c1' });
      world.flights[1]?.succeed();
      await settle();
      assert.equal(idle.done, true);
      assert.deepEqual(world.contents(), { '/a': 'a2', '/b': 'b1', '/c': 'c1' });
      assert.deepEqual(fatal, []);
      assert.ok(lags.some((l) => l >= 60), '/a is measured from its first change');
    });
  }

  test('flushes failing in the same outage pause once; the others in flight are not disturbed', async () => {
    const { world, queue, warnings } = harness({ maxBatch: 1 });
    for (const k of ['/a', '/b', '/c']) queue.push(k, buf('1'));
    await settle();
    assert.equal(world.active.size, 3);
    world.flights[0]?.fail(new OwnershipUnavailableError('down'));
    world.flights[1]?.fail(new OwnershipUnavailableError('down'));
    world.flights[2]?.succeed();
    await settle();
    assert.equal(warnings.length, 1, 'one backoff step for one outage');
    assert.equal(queue.size, 2);
    assert.deepEqual(world.contents(), { '/c': '1' });
    await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS + 50));
    for (const f of [...world.active]) f.succeed();
    await queue.idle();
    assert.deepEqual(world.contents(), { '/a': '1', '/b': '1', '/c': '1' });
    assert.equal(world.flights.length, 5);
  });

  for (const { name, err } of errors.filter((e) => !isRetryable(e.err))) {
    test(`fatal (${name}): onFatal once, then nothing more starts`, async () => {
      const { world, queue, fatal } = harness({ maxBatch: 1 });
      queue.push('/a', buf('1'));
      queue.push('/b', buf('1'));
      await settle();
      assert.equal(world.active.size, 2);
      world.flights[0]?.fail(err);
      world.flights[1]?.fail(new LeadershipLostError('also lost'));
      await settle();
      assert.deepEqual(fatal, [err]);
      queue.push('/c', buf('1'));
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS + 50));
      assert.equal(world.flights.length, 2, 'no retry, no new flush');
      assert.equal(queue.size, 2, 'the failed keys are kept, the later push ignored');
      await queue.idle();
      await queue.stop();
      assert.deepEqual(fatal, [err]);
    });
  }
});

describe('ChangeQueue idle() and stop()', () => {
  test('idle() resolves at once on an empty queue, and again once everything is applied', async () => {
    const { world, queue } = harness();
    const empty = track(queue.idle());
    await Promise.resolve();
    assert.equal(empty.done, true);
    queue.push('/a', buf('1'));
    const busy = track(queue.idle());
    await settle();
    assert.equal(busy.done, false, 'a change is pending or in flight');
    world.flights[0]?.succeed();
    await settle();
    assert.equal(busy.done, true);
  });

  test('idle() waits for the flushes in flight and the changes waiting behind them', async () => {
    const { world, queue } = harness();
    queue.push('/a', buf('1'));
    queue.push('/b', buf('1'));
    await settle();
    queue.push('/a', buf('2'));
    const idle = track(queue.idle());
    world.flights[0]?.succeed();
    await settle();
    assert.equal(idle.done, false, '/a=2 is in flight now');
    assert.equal(world.active.size, 1);
    world.flights[1]?.succeed();
    await settle();
    assert.equal(idle.done, true);
    assert.deepEqual(world.contents(), { '/a': '2', '/b': '1' });
  });

  test('stop() waits for every flush in flight, starts no more and ignores later changes', async () => {
    const { world, queue } = harness({ maxInFlight: 2, maxBatch: 1 });
    for (const k of ['/a', '/b', '/c']) queue.push(k, buf('1'));
    await settle();
    assert.equal(world.active.size, 2);
    const stopped = track(queue.stop());
    queue.push('/d', buf('1'));
    world.flights[0]?.succeed();
    await settle();
    assert.equal(stopped.done, false, 'the second flush is still in flight');
    assert.equal(world.flights.length, 2, '/c does not start after stop()');
    world.flights[1]?.succeed();
    await settle();
    assert.equal(stopped.done, true);
    assert.equal(queue.size, 1, 'only /c is left; /d was ignored');
    await queue.idle();
    assert.deepEqual(world.contents(), { '/a': '1', '/b': '1' });
  });

  test('stop() tells the writer in flight to stop (no new batch, no retry); a flush that never ends is abandoned after the grace', async () => {
    const { world, queue, warnings } = harness();
    queue.push('/a', buf('1'));
    await settle();
    const [flight] = world.flights;
    assert.equal(flight?.signal?.aborted, false);
    await queue.stop(50); // etcd does not answer: the flight never settles
    assert.equal(flight?.signal?.aborted, true);
    assert.equal(world.active.size, 1, 'still in flight, abandoned');
    assert.deepEqual(warnings, [{ keys: 1, graceMs: 50 }]);
    flight?.fail(new AbortedError('the client closed')); // later: nothing is retried or restarted
    await settle();
    assert.equal(world.flights.length, 1);
  });

  test('stop() during a backoff pause returns at once and no retry follows', async () => {
    const { world, queue } = harness();
    queue.push('/a', buf('1'));
    await settle();
    world.flights[0]?.fail(new OwnershipUnavailableError('down'));
    await settle();
    const started = performance.now();
    await queue.stop();
    assert.ok(performance.now() - started < BACKOFF_MS / 2, 'stop() does not wait for the backoff');
    await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS + 50));
    assert.equal(world.flights.length, 1);
  });
});

describe('ChangeQueue and the write lock', () => {
  test('a reconcile (exclusive) waits for the flushes in flight, and new flushes wait for it', async () => {
    const { world, queue, lock } = harness();
    queue.push('/a', buf('1'));
    await settle();
    queue.push('/b', buf('1'));
    await settle();
    assert.equal(world.active.size, 2);
    const log: string[] = [];
    let endReconcile = (): void => undefined;
    const reconcile = lock.exclusive(async () => {
      log.push(`reconcile starts, ${world.active.size} flushes in flight`);
      await new Promise<void>((resolve) => (endReconcile = resolve));
    });
    queue.push('/c', buf('1'));
    await settle();
    assert.deepEqual(log, [], 'the reconcile waits for the shared holders');
    assert.equal(world.flights.length, 2, 'a new flush waits behind the waiting reconcile');
    world.flights[0]?.succeed();
    await settle();
    assert.deepEqual(log, []);
    world.flights[1]?.succeed();
    await settle();
    assert.deepEqual(log, ['reconcile starts, 0 flushes in flight']);
    assert.equal(world.flights.length, 2, '/c still waits while the reconcile writes');
    endReconcile();
    await reconcile;
    await settle();
    assert.deepEqual(world.flights[2]?.keys, ['/c']);
    world.flights[2]?.succeed();
    await queue.idle();
    assert.deepEqual(world.contents(), { '/a': '1', '/b': '1', '/c': '1' });
  });
});

describe('ChangeQueue counts each conflict once', () => {
  test('a delete of a key another writer changed since our write: counted once the flush succeeds, not per attempt', async () => {
    const { world, queue, conflicts } = harness({ maxInFlight: 1 });
    world.etcd.set('/k', { value: buf('theirs'), modRevision: '5' });
    world.records.set('/k', { kind: 'revision', revision: '3' });
    queue.push('/k', null);
    await settle();
    world.flights[0]?.fail(new EtcdError('txn', 'unavailable', true, 'unavailable'));
    await settle();
    assert.deepEqual(conflicts, [], 'a failed flush counts nothing');
    await new Promise((r) => setTimeout(r, BACKOFF_MS * 3));
    await settle();
    world.flights[1]?.succeed();
    await queue.idle();
    assert.equal(world.flights.length, 2);
    assert.deepEqual(conflicts, [['/k']]);
    assert.equal(world.contents()['/k'], 'theirs', 'left alone');
  });

  test('a write skipped because another writer moved first (counted by the writer) is not counted again when re-planned', async () => {
    const { world, queue, conflicts } = harness({ maxInFlight: 1 });
    world.etcd.set('/k', { value: buf('ours'), modRevision: '5' });
    world.records.set('/k', { kind: 'revision', revision: '5' });
    queue.push('/k', null);
    await settle();
    world.etcd.set('/k', { value: buf('theirs'), modRevision: '6' }); // another writer, before our delete
    world.flights[0]?.succeed(['/k']);
    await settle();
    world.flights[1]?.succeed();
    await queue.idle();
    assert.equal(world.flights.length, 2, 'the key was planned again');
    assert.deepEqual(conflicts, [], 'its conflict was counted by the writer that skipped it');
    assert.equal(world.contents()['/k'], 'theirs');
  });
});

describe('ChangeQueue.discardPending (events may have been missed)', () => {
  test('waits for the flush in flight, starts no other, drops what waits, and takes changes again after', async () => {
    const { world, queue } = harness({ maxInFlight: 1, maxBatch: 1 });
    queue.push('/a', buf('1'));
    queue.push('/b', buf('1'));
    queue.push('/c', buf('1'));
    await settle();
    assert.equal(world.flights.length, 1, 'one flush in flight, two waiting');
    const discarding = queue.discardPending();
    const state = track(discarding);
    await settle();
    assert.equal(state.done, false, 'waits for the flush in flight');
    world.flights[0]?.succeed();
    assert.equal(await discarding, 2);
    await settle();
    assert.equal(world.flights.length, 1, 'no flush started for the dropped changes');
    assert.deepEqual(world.contents(), { '/a': '1' });
    assert.equal(queue.size, 0);
    queue.push('/d', buf('1'));
    await settle();
    world.flights[1]?.succeed();
    await queue.idle();
    assert.deepEqual(world.contents(), { '/a': '1', '/d': '1' });
  });

  test('a flush that fails while discarding is dropped with the rest, not retried', async () => {
    const { world, queue } = harness({ maxInFlight: 1 });
    queue.push('/a', buf('1'));
    await settle();
    const discarding = queue.discardPending();
    world.flights[0]?.fail(new EtcdError('txn', 'unavailable', true, 'unavailable'));
    assert.equal(await discarding, 1);
    await new Promise((r) => setTimeout(r, BACKOFF_MS * 3));
    await settle();
    assert.equal(world.flights.length, 1, 'not retried');
    await queue.idle();
  });
});

describe('ChangeQueue: the sync lag (event to etcd commit)', () => {
  test('is observed for the keys a flush wrote, not for events that left etcd as it was', async () => {
    const { world, queue, lags } = harness();
    world.etcd.set('/same', { value: buf('v'), modRevision: '1' });
    queue.push('/same', buf('v')); // already in etcd: nothing to commit
    queue.push('/gone-already', null); // absent from etcd: nothing to delete
    queue.push('/new', buf('n'));
    await settle();
    for (const f of [...world.active]) f.succeed();
    await queue.idle();
    assert.deepEqual(world.flights.map((f) => f.keys), [['/new']]);
    assert.equal(lags.length, 1, 'one commit, one lag');
  });

  test('an event coalesced with a change no event caused (the initial load) is timed from the event', async () => {
    const { world, queue, lags } = harness();
    queue.push('/k', buf('loaded'), Number.NaN);
    const eventAt = performance.now();
    queue.push('/k', buf('changed'), eventAt);
    await settle();
    for (const f of [...world.active]) f.succeed();
    await queue.idle();
    assert.equal(world.contents()['/k'], 'changed');
    assert.equal(lags.length, 1, 'timed, not taken for a repair');
    assert.ok((lags[0] as number) * 1000 <= performance.now() - eventAt + 1);
  });
});
