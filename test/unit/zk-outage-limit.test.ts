import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { ZkOutageLimit } from '../../watcher/zk-outage-limit.js';

describe('ZkOutageLimit (how long a leader may be without ZooKeeper)', () => {
  const cases: { name: string; steps: ('down' | 'up')[]; expires: boolean }[] = [
    { name: 'down for longer than the limit: expires once', steps: ['down'], expires: true },
    { name: 'down, then back up in time: never expires', steps: ['down', 'up'], expires: false },
    { name: 'down reported twice: one clock, from the first', steps: ['down', 'down'], expires: true },
    { name: 'up without a down: nothing', steps: ['up'], expires: false },
    { name: 'down, up, down again: the clock restarts', steps: ['down', 'up', 'down'], expires: true },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const expired: number[] = [];
      const limit = new ZkOutageLimit(() => 50, (ms) => expired.push(ms));
      for (const step of c.steps) limit[step]();
      await sleep(200);
      limit.up();
      assert.equal(expired.length, c.expires ? 1 : 0);
      if (c.expires) assert.ok((expired[0] as number) >= 40, `reported ${expired[0]} ms down`);
    });
  }

  test('the limit is read when an outage starts: a session granted a shorter timeout shortens the next one', async () => {
    let limitMs = 10_000;
    const expired: number[] = [];
    const limit = new ZkOutageLimit(() => limitMs, (ms) => expired.push(ms));
    limit.down();
    limit.up();
    limitMs = 50;
    limit.down();
    await sleep(200);
    limit.up();
    assert.equal(expired.length, 1);
  });
});
