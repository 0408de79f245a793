import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertMirrored, freshName, testEtcd, testRedis, testZk, cleanupRoot } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { eventually, startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';
import { dubboTree } from '../helpers/dubbo.js';

/** The watcher as a real process following a real ZooKeeper into a real etcd (SPEC §5). */
describe('zk2etcd sync follows ZooKeeper', () => {
  const name = freshName('watch');
  const root = `/${name}`;
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  let watcher: WatcherProcess;
  const mirrored = () => eventually(() => assertMirrored(etcd, root, [`${root}/foreign`]), 30_000);

  before(async () => {
    zk = await testZk();
    await zk.createAll(dubboTree(root, 20, 5, 3));
    await etcd.put(`${root}/foreign`).value('another tool');
    watcher = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`, '--zookeeper-session-timeout=2s']);
    await waitForLog(watcher, 'full reconcile done');
  });

  after(async () => {
    await watcher?.stop();
    await cleanupRoot({ zk, etcd, redis, root, instance: name });
  });

  test('the initial load copies the tree and keeps foreign keys', async () => {
    await mirrored();
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'another tool');
  });

  test('create, data-only change and delete arrive in etcd', async () => {
    await zk.create(`${root}/created`, Buffer.from('c1'));
    await zk.set(`${root}/com.example.service.Service0`, Buffer.from([0, 0xff, 1]));
    const leaf = (await zk.children(`${root}/com.example.service.Service1/providers`))[0] as string;
    await zk.remove(`${root}/com.example.service.Service1/providers/${leaf}`);
    await eventually(async () => {
      assert.equal(await etcd.get(`${root}/created`).string(), 'c1');
      assert.deepEqual([...((await etcd.get(`${root}/com.example.service.Service0`).buffer()) ?? [])], [0, 0xff, 1]);
      assert.equal(await etcd.get(`${root}/com.example.service.Service1/providers/${leaf}`).string(), null);
    });
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'another tool');
  });

  test('an event\'s write counts in zk2etcd_applied_total, not in zk2etcd_fixed_total (a full reconcile\'s repairs, as in 1.x)', async () => {
    const counter = async (name: string): Promise<number> => {
      const text = await (await fetch(`${watcher.url}/metrics`)).text();
      return Number(new RegExp(`^${name}\\{type="put"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    };
    const [fixedBefore, appliedBefore] = [await counter('zk2etcd_fixed_total'), await counter('zk2etcd_applied_total')];
    assert.ok(fixedBefore > 0, 'the initial reconcile copied the tree: fixes');
    await zk.create(`${root}/counted`, Buffer.from('c'));
    await eventually(async () => assert.equal(await counter('zk2etcd_applied_total'), appliedBefore + 1));
    assert.equal(await counter('zk2etcd_fixed_total'), fixedBefore);
  });

  test('a deleted node whose key another writer rewrote: the key is kept and counted as a conflict', async () => {
    const key = `${root}/rewritten-later`;
    await zk.create(key, Buffer.from('ours'));
    await eventually(async () => assert.equal(await etcd.get(key).string(), 'ours'));
    await etcd.put(key).value('rewritten by another writer');
    await zk.remove(key);
    await eventually(async () => {
      const text = await (await fetch(`${watcher.url}/metrics`)).text();
      assert.match(text, /^zk2etcd_conflicts_total 1$/m);
    });
    assert.equal(await etcd.get(key).string(), 'rewritten by another writer');
    assert.match(watcher.output(), /keys another writer changed since our write were left alone/);
    await etcd.delete().key(key);
  });

  test('a subtree 10 levels deep created in one burst is followed to full depth', async () => {
    let path = `${root}/deep`;
    const nodes: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      nodes.push(zk.create(path, Buffer.from(`level${i}`)));
      path += `/l${i}`;
    }
    await Promise.all(nodes);
    await zk.create(`${path}`, Buffer.from('leaf')); // one more below the deepest, created after
    await eventually(async () => assert.equal(await etcd.get(path).string(), 'leaf'));
    await mirrored();
  });

  test('a rollout of 2,000 creates and deletes converges exactly', async () => {
    const providers = `${root}/com.example.service.Service2/providers`;
    const old = await zk.children(providers);
    const fresh: [string, Buffer][] = [];
    for (let i = 0; i < 1000; i++) fresh.push([`${providers}/${encodeURIComponent(`dubbo://10.2.${i >> 8}.${i & 255}:20880/x?pid=${i}&t=${Date.now()}`)}`, Buffer.from(`ip${i}`)]);
    const olds: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const p = `${providers}/${encodeURIComponent(`dubbo://10.3.${i >> 8}.${i & 255}:20880/x?pid=${i}`)}`;
      olds.push(p);
      fresh.push([p, Buffer.alloc(0)]);
    }
    await zk.createAll(fresh, 200);
    await Promise.all([...olds.map((p) => zk.remove(p)), ...old.map((n) => zk.remove(`${providers}/${n}`))]);
    await mirrored();
    assert.equal((await etcd.getAll().prefix(`${providers}/`).keys()).length, 1000);
  });

  test('a deleted and recreated prefix root is followed again', async () => {
    await zk.removeTree(root);
    await eventually(async () => assert.equal((await etcd.getAll().prefix(`${root}/com.`).keys()).length, 0));
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'another tool', 'foreign key survives the root deletion');
    await zk.createAll([[root, Buffer.from('again')], [`${root}/back`, Buffer.from('b')]]);
    await eventually(async () => assert.equal(await etcd.get(`${root}/back`).string(), 'b'));
    await zk.create(`${root}/back/child`, Buffer.from('watched'));
    await eventually(async () => assert.equal(await etcd.get(`${root}/back/child`).string(), 'watched'));
  });

  test('changes made while the watcher session is expired are applied after recovery', async () => {
    watcher.child.kill('SIGSTOP'); // past the 2s session timeout: ZooKeeper expires the session
    try {
      await new Promise((r) => setTimeout(r, 5000));
      await zk.create(`${root}/while-expired`, Buffer.from('x'));
      await zk.set(`${root}/back`, Buffer.from('changed while expired'));
      await zk.remove(`${root}/back/child`);
    } finally {
      watcher.child.kill('SIGCONT');
    }
    await waitForLog(watcher, 'ZooKeeper session lost; rebuilding the session, re-walking and reconciling');
    await eventually(async () => {
      assert.equal(await etcd.get(`${root}/while-expired`).string(), 'x');
      assert.equal(await etcd.get(`${root}/back`).string(), 'changed while expired');
      assert.equal(await etcd.get(`${root}/back/child`).string(), null);
    });
    await zk.create(`${root}/after-recovery`, Buffer.from('y'));
    await eventually(async () => assert.equal(await etcd.get(`${root}/after-recovery`).string(), 'y'));
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'another tool');
  });

  test('SIGTERM during a burst stops gracefully with exit 0; a new watcher converges', async () => {
    await zk.create(`${root}/burst`, Buffer.alloc(0));
    const burst: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) burst.push(zk.create(`${root}/burst/p${i}`, Buffer.from(`b${i}`)));
    await new Promise((r) => setTimeout(r, 100));
    const res = await watcher.stop();
    assert.equal(res.code, 0, watcher.output().slice(-2000));
    assert.match(watcher.output(), /"msg":"stopped"/);
    await Promise.all(burst);
    watcher = await startWatcher([`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${name}`]);
    await waitForLog(watcher, 'full reconcile done');
    await mirrored();
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'another tool');
    assert.equal((await watcher.stop()).code, 0);
  });
});
