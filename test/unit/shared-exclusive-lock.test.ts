import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SharedExclusiveLock } from '../../watcher/shared-exclusive-lock.js';

/** The watcher's write lock: flushes shared, a full reconcile's writes exclusive (watcher/sync.ts). */

interface Gate {
  readonly opened: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Holds the lock in `mode` until its gate opens; `log` records entries and exits in order. */
function hold(lock: SharedExclusiveLock, mode: 'shared' | 'exclusive', name: string, log: string[]): { gate: Gate; done: Promise<string> } {
  const g = gate();
  const done = lock[mode](async () => {
    log.push(`+${name}`);
    await g.opened;
    log.push(`-${name}`);
    return name;
  });
  return { gate: g, done };
}

describe('SharedExclusiveLock', () => {
  test('shared holders run at once', async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const holders = ['a', 'b', 'c'].map((n) => hold(lock, 'shared', n, log));
    await settle();
    assert.deepEqual(log, ['+a', '+b', '+c']);
    for (const h of holders) h.gate.open();
    assert.deepEqual(await Promise.all(holders.map((h) => h.done)), ['a', 'b', 'c']);
  });

  test('an exclusive holder waits for every shared holder in flight', async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const a = hold(lock, 'shared', 'a', log);
    const b = hold(lock, 'shared', 'b', log);
    const x = hold(lock, 'exclusive', 'x', log);
    await settle();
    assert.deepEqual(log, ['+a', '+b']);
    a.gate.open();
    await settle();
    assert.deepEqual(log, ['+a', '+b', '-a'], 'x waits while b still holds it shared');
    b.gate.open();
    await settle();
    assert.deepEqual(log, ['+a', '+b', '-a', '-b', '+x']);
    x.gate.open();
    await x.done;
  });

  test('a shared request after a waiting exclusive one waits for it (no starvation)', async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const a = hold(lock, 'shared', 'a', log);
    const x = hold(lock, 'exclusive', 'x', log);
    const b = hold(lock, 'shared', 'b', log);
    const c = hold(lock, 'shared', 'c', log);
    await settle();
    assert.deepEqual(log, ['+a'], 'b and c queue behind the waiting exclusive x');
    a.gate.open();
    await settle();
    assert.deepEqual(log, ['+a', '-a', '+x']);
    x.gate.open();
    await settle();
    assert.deepEqual(log, ['+a', '-a', '+x', '-x', '+b', '+c'], 'the shared waiters behind x enter together');
    b.gate.open();
    c.gate.open();
    await Promise.all([b.done, c.done]);
  });

  test('exclusive holders run one at a time, in call order', async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const holders = ['x', 'y', 'z'].map((n) => hold(lock, 'exclusive', n, log));
    for (const h of holders) {
      await settle();
      h.gate.open();
      await h.done;
    }
    assert.deepEqual(log, ['+x', '-x', '+y', '-y', '+z', '-z']);
  });

  test('the waiters are served in call order across modes', async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const x = hold(lock, 'exclusive', 'x', log);
    const a = hold(lock, 'shared', 'a', log);
    const y = hold(lock, 'exclusive', 'y', log);
    const b = hold(lock, 'shared', 'b', log);
    for (const h of [x, a, y, b]) {
      await settle();
      h.gate.open();
      await h.done;
    }
    assert.deepEqual(log, ['+x', '-x', '+a', '-a', '+y', '-y', '+b', '-b']);
  });

  const failures: { name: string; mode: 'shared' | 'exclusive'; fn: () => Promise<never> }[] = [
    { name: 'shared, rejected', mode: 'shared', fn: () => Promise.reject(new Error('boom')) },
    { name: 'exclusive, rejected', mode: 'exclusive', fn: () => Promise.reject(new Error('boom')) },
    {
      name: 'exclusive, thrown synchronously',
      mode: 'exclusive',
      fn: () => {
        throw new Error('boom');
      },
    },
  ];
  for (const c of failures) {
    test(`a failing holder passes its error on and releases the lock (${c.name})`, async () => {
      const lock = new SharedExclusiveLock();
      await assert.rejects(lock[c.mode](c.fn), /boom/);
      assert.equal(await lock.exclusive(async () => 'after'), 'after');
      assert.equal(await lock.shared(async () => 'after'), 'after');
    });
  }
});
