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

  interface AppliedLine {
    event: string;
    key: string;
    trace: string;
    revision: string;
    zk?: { eventAt?: string; zxid?: string };
  }
  const appliedLine = async (w: WatcherProcess, key: string, event: string): Promise<AppliedLine> => {
    let found: AppliedLine | undefined;
    await eventually(async () => {
      const lines = w.output().split('\n').filter((l) => l.includes('"msg":"applied"'));
      found = lines.map((l) => JSON.parse(l) as AppliedLine).find((l) => l.key === key && l.event === event);
      assert.ok(found, `no "applied" ${event} line for ${key}; output:\n${w.output().slice(-1500)}`);
    }, 30_000);
    return found as AppliedLine;
  };
  const hex = (zxid: number): string => `0x${zxid.toString(16)}`;

  for (const [client, fastPath] of [['protocol client', 'on'], ['addon client', 'off']] as const) {
    test(`--enable-event-log (${client}): one line per applied change tying the ZooKeeper change, the etcd revision and the Redis record`, async () => {
      await Promise.all(watchers.map((w) => w.stop())); // one watcher on the prefix: this one applies the change
      const node = `${root}/evented-${fastPath}`;
      const w = await startWatcher([`--zookeeper-prefix=${root}`, `--instance=${name}`, '--zookeeper-exclude-prefix=', `--zookeeper-fast-path=${fastPath}`, '--enable-event-log']);
      watchers.push(w);
      await waitForLog(w, 'full reconcile done');

      const beforeCreate = Date.now();
      await zk.create(node, Buffer.from('e'));
      const created = await zk.zxids(node);
      assert.ok(created);
      const put = await appliedLine(w, node, 'put');
      assert.match(put.trace, /^[0-9a-f-]{36}$/);
      assert.equal(put.zk?.zxid, hex(created.mzxid), "a put names the znode's mzxid: the ZooKeeper transaction it copied");
      const eventAt = Date.parse(put.zk?.eventAt ?? '');
      assert.ok(eventAt >= beforeCreate - 1000 && eventAt <= Date.now(), `eventAt ${put.zk?.eventAt} is when the event arrived`);
      assert.equal(await redis.hget(ownershipHashKey(name), node), put.revision, 'the revision ties the etcd transaction to the Redis record');
      assert.equal(String((await etcd.get(node).exec()).kvs[0]?.mod_revision), put.revision);

      await zk.remove(node);
      const parent = await zk.zxids(root); // its pzxid is the delete's zxid (nothing else changed its children)
      assert.ok(parent);
      const del = await appliedLine(w, node, 'delete');
      assert.notEqual(del.trace, put.trace);
      assert.ok(BigInt(del.revision) > BigInt(put.revision));
      assert.equal(await redis.hget(ownershipHashKey(name), node), null, 'the record is gone with the key');
      assert.ok(del.zk?.eventAt);
      if (fastPath === 'on') {
        // The re-read that found the node gone: its reply's zxid is at or after the delete.
        assert.ok(del.zk?.zxid !== undefined && BigInt(del.zk.zxid) >= BigInt(parent.pzxid), `${del.zk?.zxid} >= ${hex(parent.pzxid)}`);
      } else {
        assert.equal(del.zk?.zxid, undefined, 'one-shot watches give no zxid for a deletion');
      }
    });
  }

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
