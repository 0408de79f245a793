import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger } from '../../common/logger.js';
import { connectZk, type ZkConnection } from '../../common/zk/addon-client.js';
import { freshName, servers, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const ROUNDS = 100;

/**
 * The addon never frees a per-call watch function once it fired (node-zookeeper's watcher epilog), so
 * the watcher's addon path, which re-arms a watch on every event, used to keep one closure per event
 * forever (and with it whatever the closure's scope held). Watches now go through the session's
 * default watcher: a fired callback is garbage once the caller drops it.
 */
describe('addon client: fired watch callbacks are not retained', () => {
  const root = `/${freshName('addon-leak')}`;
  let zk: TestZk;
  let conn: ZkConnection;

  before(async () => {
    zk = await testZk();
    await zk.createAll([[root, Buffer.from('0')], [`${root}/c`, Buffer.from('')]]);
    conn = await connectZk({ servers: [servers.zk], sessionTimeoutMs: 10_000, auth: null, logger: silentLogger() });
  });

  after(async () => {
    conn.close();
    await zk.removeTree(root);
    zk.close();
  });

  test(`${ROUNDS} data and ${ROUNDS} child events, each re-armed: every fired callback is collected`, async () => {
    const refs: WeakRef<object>[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      await new Promise<void>((resolve, reject) => {
        let pending = 2;
        const done = () => --pending === 0 && resolve();
        const onData = () => done();
        const onChild = () => done();
        refs.push(new WeakRef(onData), new WeakRef(onChild));
        Promise.all([conn.getW(root, onData), conn.childrenW(root, onChild)])
          .then(async ([node, names]) => {
            assert.equal(node?.data.toString(), String(i - 1));
            assert.equal(names?.length, i % 2 === 1 ? 1 : 2);
            await zk.set(root, Buffer.from(String(i))); // the data watch
            if (i % 2 === 1) await zk.create(`${root}/n`, Buffer.alloc(0)); // the child watch
            else await zk.remove(`${root}/n`);
          })
          .catch(reject);
      });
    }
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      gc();
    }
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    assert.ok(alive <= 2, `${alive} of ${refs.length} fired watch callbacks still reachable`);
  });
});
