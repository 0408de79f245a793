import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WatchRegistry, type WatchEvent, type WatchKind } from '../../common/zk/watch-registry.js';

/** ZooKeeper's rules for which one-shot watches an event ends (the addon's default watcher delivers it once). */
describe('WatchRegistry', () => {
  const cases: { event: WatchEvent; fires: WatchKind[] }[] = [
    { event: 'created', fires: ['exists'] },
    { event: 'changed', fires: ['data', 'exists'] },
    { event: 'deleted', fires: ['data', 'exists', 'child'] },
    { event: 'child', fires: ['child'] },
  ];
  for (const c of cases) {
    test(`${c.event} fires the ${c.fires.join(', ')} watches of its path, once, and no other path's`, () => {
      const reg = new WatchRegistry();
      const fired: string[] = [];
      for (const kind of ['data', 'exists', 'child'] as const) {
        reg.arm(kind, '/a', () => fired.push(kind));
        reg.arm(kind, '/b', () => fired.push(`other ${kind}`));
      }
      reg.fire(c.event, '/a');
      assert.deepEqual(fired.sort(), [...c.fires].sort());
      reg.fire(c.event, '/a');
      assert.equal(fired.length, c.fires.length, 'one-shot: a second event finds nothing armed');
      assert.equal(reg.size, 6 - c.fires.length, 'fired callbacks are dropped; the rest wait');
    });
  }

  test('two callbacks armed on one path both fire (a re-arm while the first was armed)', () => {
    const reg = new WatchRegistry();
    let n = 0;
    reg.arm('data', '/a', () => n++);
    reg.arm('data', '/a', () => n++);
    reg.fire('changed', '/a');
    assert.equal(n, 2);
    assert.equal(reg.size, 0);
  });

  test('a callback that re-arms the same path while firing waits for the next event', () => {
    const reg = new WatchRegistry();
    const seen: number[] = [];
    const arm = (i: number) => reg.arm('child', '/a', () => {
      seen.push(i);
      if (i < 3) arm(i + 1);
    });
    arm(1);
    reg.fire('child', '/a');
    assert.deepEqual(seen, [1]);
    reg.fire('child', '/a');
    reg.fire('child', '/a');
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test('clear (the session ended): nothing armed, and a later event fires nothing', () => {
    const reg = new WatchRegistry();
    let n = 0;
    reg.arm('data', '/a', () => n++);
    reg.arm('child', '/a', () => n++);
    reg.clear();
    assert.equal(reg.armed, 0);
    reg.fire('deleted', '/a');
    assert.equal(n, 0);
  });

  describe('armed: the watches the server holds (data and exists share a table, one per path; child watches another)', () => {
    const cases: { name: string; arm: [WatchKind, string][]; fire?: [WatchEvent, string]; expected: number }[] = [
      { name: 'nothing armed', arm: [], expected: 0 },
      { name: 'a data and a child watch on one node', arm: [['data', '/a'], ['child', '/a']], expected: 2 },
      { name: 'a prefix root: exists, data and child watches', arm: [['exists', '/r'], ['data', '/r'], ['child', '/r']], expected: 2 },
      { name: 'an exists watch on an absent node', arm: [['exists', '/gone']], expected: 1 },
      { name: 'the same watch armed twice (a re-read before it fired): still one', arm: [['data', '/a'], ['data', '/a']], expected: 1 },
      { name: 'a node deleted: its watches are gone', arm: [['data', '/a'], ['child', '/a'], ['data', '/b']], fire: ['deleted', '/a'], expected: 1 },
      { name: 'a data change: the child watch stays', arm: [['data', '/a'], ['child', '/a']], fire: ['changed', '/a'], expected: 1 },
    ];
    for (const c of cases) {
      test(c.name, () => {
        const reg = new WatchRegistry();
        for (const [kind, path] of c.arm) reg.arm(kind, path, () => undefined);
        if (c.fire) reg.fire(...c.fire);
        assert.equal(reg.armed, c.expected);
      });
    }
  });
});
