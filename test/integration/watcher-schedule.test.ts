import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { freshName, testEtcd, testRedis, testZk, cleanupRoot } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

/** The in-process scheduled reconcile repairs drift the watches cannot see (changes made in etcd). */
describe('scheduled reconcile and event log', () => {
  const name = freshName('sched');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const watchers: WatcherProcess[] = [];

  before(async () => {
    zk = await testZk();
    await zk.createAll([[root, Buffer.from('r')], [`${root}/a`, Buffer.from('A')], [`${root}/b`, Buffer.from('B')]]);
  });

  after(async () => {
    await Promise.all(watchers.map((w) => w.stop()));
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  for (const [label, spec] of [['an interval', '1s'], ['a cron expression', '* * * * * *']] as const) {
    test(`--fullsync-interval as ${label} repairs keys changed behind the watcher's back`, async () => {
      const w = await startWatcher([`--zookeeper-prefix=${root}`, `--instance=${name}`, '--zookeeper-exclude-prefix=']);
      watchers.push(w);
      await waitForLog(w, 'full reconcile done');
      await w.stop();
      const scheduled = await startWatcher([`--zookeeper-prefix=${root}`, `--instance=${name}`, '--zookeeper-exclude-prefix=', `--fullsync-interval=${spec}`]);
      watchers.push(scheduled);
      await waitForLog(scheduled, 'full reconcile done');
      await etcd.delete().key(`${root}/a`);
      await etcd.put(`${root}/b`).value('tampered');
      await eventually(async () => {
        assert.equal(await etcd.get(`${root}/a`).string(), 'A');
        assert.equal(await etcd.get(`${root}/b`).string(), 'B');
      }, 30_000);
      // The repair is visible in etcd a moment before the reconcile logs that it is done.
      await eventually(async () => assert.match(scheduled.output(), /"reason":"scheduled"/), 10_000);
      await scheduled.stop();
    });
  }

  test('--enable-event-log writes one line per applied change with a trace id', async () => {
    const w = await startWatcher([`--zookeeper-prefix=${root}`, `--instance=${name}`, '--zookeeper-exclude-prefix=', '--enable-event-log']);
    watchers.push(w);
    await waitForLog(w, 'full reconcile done');
    await zk.create(`${root}/evented`, Buffer.from('e'));
    await waitForLog(w, 'applied');
    const line = w.output().split('\n').find((l) => l.includes('"msg":"applied"') && l.includes(`${root}/evented`));
    assert.ok(line, w.output().slice(-1500));
    const event = JSON.parse(line) as { event: string; key: string; trace: string; revision: string };
    assert.equal(event.event, 'put');
    assert.match(event.trace, /^[0-9a-f-]{36}$/);
    assert.equal(await redis.hget(ownershipHashKey(name), `${root}/evented`), event.revision, 'the trace ties the etcd revision to the Redis record');
  });

  test('--enable-event-log is unsampled: written at --log-level=error too', async () => {
    await Promise.all(watchers.map((w) => w.stop())); // one watcher on the prefix: this one applies the change
    const w = await startWatcher([`--zookeeper-prefix=${root}`, `--instance=${name}`, '--zookeeper-exclude-prefix=', '--enable-event-log', '--log-level=error']);
    watchers.push(w);
    await zk.create(`${root}/evented-quiet`, Buffer.from('q'));
    await waitForLog(w, 'applied');
    const lines = w.output().split('\n').filter((l) => l.includes('"msg":"applied"') && l.includes(`${root}/evented-quiet`));
    assert.equal(lines.length, 1, w.output().slice(-1500));
    const otherInfo = w.output().split('\n').filter((l) => l.includes('"level":"info"') && !l.includes('"msg":"applied"'));
    assert.deepEqual(otherInfo, [], 'other info lines stay hidden');
  });
});
