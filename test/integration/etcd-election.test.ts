import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { AbortedError, LeadershipLostError } from '../../common/errors.js';
import { etcd3Store } from '../../common/etcd/etcd3-store.js';
import type { EtcdStore, Fence } from '../../common/etcd/store.js';
import { etcdElectionLock, leaderKey } from '../../common/leader/etcd-election.js';
import { writeFence, type LeaderLock } from '../../common/leader/lock.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { pino } from 'pino';
import { etcdWriter } from '../../common/apply/etcd-writer.js';
import { createMetrics } from '../../common/metrics.js';
import { ownershipHashKey, redisOwnershipStore } from '../../common/ownership/redis-store.js';
import type { Plan } from '../../common/plan/plan.js';
import { testRedis } from '../helpers/services.js';
import { isPendingValue } from '../../common/ownership/store.js';

const ETCD = process.env.ZK2ETCD_ETCD_SERVERS ?? 'http://127.0.0.1:22379';
const TTL = 2;
const EVENTUALLY_MS = 30_000;
const base = `it-election-${randomBytes(4).toString('hex')}`;
let seq = 0;

/** Like the product's client: the library's own retries and circuit breaker are off. */
const newClient = () => new Etcd3({ hosts: ETCD, faultHandling: { host: () => noop, global: noop } });

interface Contender {
  id: string;
  client: Etcd3;
  lock: LeaderLock;
  /** Settles when acquire does; never rejects (the outcome is kept instead). */
  acquired: Promise<'leader' | Error>;
}

const admin = newClient();
const opened: Contender[] = [];

function contend(name: string, id: string, signal = new AbortController().signal, logger: Logger = silentLogger()): Contender {
  const client = newClient();
  const lock = etcdElectionLock({ client, name, identity: id, ttlSeconds: TTL, logger });
  const acquired = lock.acquire(signal).then(
    () => 'leader' as const,
    (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
  );
  const c = { id, client, lock, acquired };
  opened.push(c);
  return c;
}

async function eventually(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + EVENTUALLY_MS;
  while (!(await cond())) {
    if (Date.now() > until) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lostFired = (lock: LeaderLock) =>
  new Promise<unknown>((resolve) => {
    if (lock.lost.aborted) resolve(lock.lost.reason);
    else lock.lost.addEventListener('abort', () => resolve(lock.lost.reason), { once: true });
  });

/** A leader in its own process, so that it can really crash (SIGKILL: no release, no more keepalives). */
function childLeader(name: string) {
  const req = createRequire(import.meta.url);
  const url = (spec: string) => JSON.stringify(pathToFileURL(req.resolve(spec)).href);
  const election = JSON.stringify(new URL('../../common/leader/etcd-election.js', import.meta.url).href);
  const logger = JSON.stringify(new URL('../../common/logger.js', import.meta.url).href);
  const code = `
    const { Etcd3 } = await import(${url('etcd3')});
    const { noop } = await import(${url('cockatiel')});
    const { etcdElectionLock } = await import(${election});
    const { silentLogger } = await import(${logger});
    const client = new Etcd3({ hosts: ${JSON.stringify(ETCD)}, faultHandling: { host: () => noop, global: noop } });
    const lock = etcdElectionLock({ client, name: ${JSON.stringify(name)}, identity: 'child', ttlSeconds: ${TTL}, logger: silentLogger() });
    await lock.acquire(new AbortController().signal);
    console.log('LEADER ' + lock.fence().createRevision);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const leading = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LEADER (\d+)/.exec(out);
      if (m) resolve(m[1] as string);
    });
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before leading: ${out}`)));
  });
  return { child, leading };
}

async function holder(name: string): Promise<{ value: string; createRevision: string; lease: string } | undefined> {
  const res = await admin.kv.range({ key: Buffer.from(leaderKey(name)) });
  const kv = res.kvs[0];
  return kv && { value: kv.value.toString(), createRevision: kv.create_revision, lease: kv.lease };
}

/** The first contender whose acquire resolves. */
async function firstLeader(cs: readonly Contender[]): Promise<Contender> {
  return Promise.race(cs.map((c) => c.acquired.then((r) => (r === 'leader' ? c : new Promise<Contender>(() => {})))));
}

describe('etcd leader election', () => {
  after(async () => {
    await Promise.all(opened.map((c) => c.lock.release().catch(() => undefined)));
    for (const c of opened) c.client.close();
    await admin.delete().prefix(`zk2etcd/leader/${base}`);
    admin.close();
  });

  test('exactly one of three contenders leads, and the key names it', async () => {
    const name = `${base}-${++seq}`;
    const cs = ['a', 'b', 'c'].map((id) => contend(name, id));
    const leader = await firstLeader(cs);
    // Give the others ample time to (wrongly) win too.
    await new Promise((r) => setTimeout(r, TTL * 1500));
    assert.deepEqual(
      cs.filter((c) => c.lock.isLeader()).map((c) => c.id),
      [leader.id],
    );
    for (const c of cs) assert.equal(c.lock.fence() !== undefined, c === leader);
    const h = await holder(name);
    assert.equal(h?.value, leader.id);
    assert.deepEqual(leader.lock.fence(), { key: leaderKey(name), createRevision: h?.createRevision });

    // Releasing the waiters ends their campaigns; they never lead and never lose.
    for (const c of cs.filter((x) => x !== leader)) {
      await c.lock.release();
      assert.ok((await c.acquired) instanceof AbortedError);
      assert.equal(c.lock.lost.aborted, false);
    }
    assert.equal((await holder(name))?.value, leader.id);
  });

  test('the log says who leads: a standby names the leader once at info, a release says it released', async () => {
    const name = `${base}-${++seq}`;
    const lines = (out: string[]) => out.map((l) => JSON.parse(l) as { level: number; msg: string; leader?: string });
    const logs = { a: [] as string[], b: [] as string[] };
    const logger = (out: string[]): Logger => pino({ level: 'debug' }, { write: (l: string) => void out.push(l) });
    const a = contend(name, 'a', undefined, logger(logs.a));
    assert.equal(await a.acquired, 'leader');
    const b = contend(name, 'b', undefined, logger(logs.b));
    await eventually('b says who leads', () => lines(logs.b).some((l) => l.msg.startsWith('another replica leads')));
    const waiting = lines(logs.b).filter((l) => l.msg.startsWith('another replica leads'));
    assert.deepEqual(waiting.map((l) => [l.level, l.leader]), [[30, 'a']], 'once, at info, naming the leader');
    await a.lock.release();
    assert.ok(lines(logs.a).some((l) => l.level === 30 && l.msg === 'released leadership'));
    assert.equal(await b.acquired, 'leader');
  });

  test('release hands leadership over to another contender at once', async () => {
    const name = `${base}-${++seq}`;
    const cs = ['a', 'b', 'c'].map((id) => contend(name, id));
    const first = await firstLeader(cs);
    const oldFence = first.lock.fence();
    await first.lock.release();
    assert.equal(first.lock.isLeader(), false);
    assert.equal(first.lock.fence(), undefined);
    assert.equal(first.lock.lost.aborted, false, 'release must not abort lost');

    const second = await firstLeader(cs.filter((c) => c !== first));
    assert.notEqual(second, first);
    const h = await holder(name);
    assert.equal(h?.value, second.id);
    assert.notEqual(second.lock.fence()?.createRevision, oldFence?.createRevision);
    await assert.rejects(first.lock.acquire(new AbortController().signal), AbortedError);
  });

  test('a crashed leader (client closed, no release) is replaced after about the TTL and its lost fires', async () => {
    const name = `${base}-${++seq}`;
    const cs = ['a', 'b'].map((id) => contend(name, id));
    const first = await firstLeader(cs);
    const other = cs.find((c) => c !== first) as Contender;
    const order: string[] = [];
    const lost = lostFired(first.lock).then((reason) => (order.push('old lost'), reason));
    const taken = other.acquired.then((r) => (order.push('new leads'), r));
    first.client.close();

    assert.equal(await taken, 'leader');
    assert.ok((await lost) instanceof LeadershipLostError);
    // The old leader notices (and stops its keepalive) before its lease can expire.
    assert.deepEqual(order, ['old lost', 'new leads']);
    assert.equal(first.lock.isLeader(), false);
    assert.equal(first.lock.fence(), undefined);
    assert.equal((await holder(name))?.value, other.id);
  });

  test('a killed leader process is replaced once its lease expires', async () => {
    const name = `${base}-${++seq}`;
    const { child, leading } = childLeader(name);
    try {
      const childRevision = await leading;
      const successor = contend(name, 'successor');
      // While the child lives and keeps its lease alive, the successor only waits.
      await new Promise((r) => setTimeout(r, TTL * 1500));
      assert.equal(successor.lock.isLeader(), false);
      assert.equal((await holder(name))?.value, 'child');
      child.kill('SIGKILL');
      assert.equal(await successor.acquired, 'leader');
      const h = await holder(name);
      assert.equal(h?.value, 'successor');
      assert.notEqual(h?.createRevision, childRevision);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('FENCE: after a takeover the deposed leader cannot write; the new leader can', async () => {
    const name = `${base}-${++seq}`;
    const cs = ['a', 'b'].map((id) => contend(name, id));
    const first = await firstLeader(cs);
    const other = cs.find((c) => c !== first) as Contender;
    const oldFence = first.lock.fence() as Fence;
    assert.ok(oldFence);
    const lost = lostFired(first.lock);

    // Simulate a leader that stalled past its lease: the lease is revoked behind its back.
    const h = await holder(name);
    assert.ok(h);
    await admin.leaseClient.leaseRevoke({ ID: h.lease });

    assert.equal(await other.acquired, 'leader');
    assert.ok((await lost) instanceof LeadershipLostError);
    const newFence = other.lock.fence() as Fence;
    assert.ok(newFence);
    assert.equal(newFence.key, oldFence.key);
    assert.notEqual(newFence.createRevision, oldFence.createRevision);

    // The deposed process still has its client and the fence it captured before the takeover.
    const stale = `${base}-fenced/${seq}/stale`;
    const outcome = await etcd3Store(first.client).commit([{ type: 'put', key: stale, value: Buffer.from('x'), expect: { absent: true } }], oldFence);
    assert.equal(outcome.succeeded, false);
    assert.equal(outcome.succeeded === false && outcome.fenceHeld, false);
    assert.equal((await admin.kv.range({ key: Buffer.from(stale) })).kvs.length, 0, 'the deposed write must not land');

    const fresh = `${base}-fenced/${seq}/fresh`;
    const ok = await etcd3Store(other.client).commit([{ type: 'put', key: fresh, value: Buffer.from('y'), expect: { absent: true } }], newFence);
    assert.equal(ok.succeeded, true);
    assert.equal((await admin.get(fresh).string()), 'y');
    await admin.delete().prefix(`${base}-fenced/`);
  });

  test('WRITE FENCE: once leadership is lost or released, the writer marks nothing and sends nothing', async () => {
    const redis = testRedis();
    try {
      for (const how of ['lost', 'released'] as const) {
        const name = `${base}-${++seq}`;
        const [only] = ['a'].map((id) => contend(name, id)) as [Contender];
        assert.equal(await only.acquired, 'leader');
        const ownership = redisOwnershipStore(redis, { instance: name, legacy: null });
        const writer = etcdWriter({ etcd: etcd3Store(only.client), ownership, metrics: createMetrics(), logger: silentLogger(), fence: writeFence(only.lock) });
        const key = `${base}-wf/${seq}/k`;
        const planned: Plan = { missing: [{ key, value: Buffer.from('x'), expect: { absent: true } }], changed: [], extra: [], foreign: [], conflict: [], inSync: 0, staleRecords: new Map(), unsettled: [] };
        if (how === 'lost') {
          const lost = lostFired(only.lock);
          await admin.delete().key(leaderKey(name));
          await lost;
        } else {
          await only.lock.release();
        }
        await assert.rejects(writer.write(planned), LeadershipLostError, `${how}: the write is refused`);
        assert.equal((await admin.kv.range({ key: Buffer.from(key) })).kvs.length, 0, `${how}: nothing lands in etcd`);
        assert.equal(await redis.hexists(ownershipHashKey(name), key), 0, `${how}: nothing is marked pending`);
      }
    } finally {
      await admin.delete().prefix(`${base}-wf/`);
      redis.disconnect();
    }
  });

  test('WRITE FENCE: leadership lost between two batches of one write: the second is neither marked nor sent', async () => {
    const redis = testRedis();
    const name = `${base}-${++seq}`;
    try {
      const [only] = ['a'].map((id) => contend(name, id)) as [Contender];
      assert.equal(await only.acquired, 'leader');
      const store = etcd3Store(only.client);
      let commits = 0;
      // The real store; its first commit returns only once the loss has been seen.
      const losingAfterFirst: EtcdStore = {
        ...store,
        commit: async (ops, fence) => {
          const outcome = await store.commit(ops, fence);
          if (++commits === 1) {
            const lost = lostFired(only.lock);
            await admin.delete().key(leaderKey(name));
            await lost;
          }
          return outcome;
        },
      };
      const ownership = redisOwnershipStore(redis, { instance: name, legacy: null });
      const writer = etcdWriter({ etcd: losingAfterFirst, ownership, metrics: createMetrics(), logger: silentLogger(), fence: writeFence(only.lock), inFlight: 1 });
      const keys = Array.from({ length: 200 }, (_, i) => `${base}-wf/${seq}/k${String(i).padStart(3, '0')}`);
      const planned: Plan = { missing: keys.map((key) => ({ key, value: Buffer.from('x'), expect: { absent: true } })), changed: [], extra: [], foreign: [], conflict: [], inSync: 0, staleRecords: new Map(), unsettled: [] };
      await assert.rejects(writer.write(planned), LeadershipLostError);
      assert.equal(commits, 1);
      const landed = (await admin.kv.range({ key: Buffer.from(`${base}-wf/${seq}/`), range_end: Buffer.from(`${base}-wf/${seq}0`) })).kvs.map((kv) => kv.key.toString());
      const first = landed.length;
      assert.ok(first > 0 && first < keys.length, `the first batch landed (${first} keys), the second did not`);
      assert.deepEqual(landed, keys.slice(0, first));
      const records = await redis.hgetall(ownershipHashKey(name));
      assert.deepEqual(Object.keys(records).sort(), keys.slice(0, first), 'only the first batch is recorded; the second was never marked pending');
      assert.ok(Object.values(records).every((v) => !isPendingValue(v)));
    } finally {
      await admin.delete().prefix(`${base}-wf/`);
      await redis.del(ownershipHashKey(name));
      redis.disconnect();
    }
  });

  test('the leader key deleted by someone else aborts lost at once', async () => {
    const name = `${base}-${++seq}`;
    const [only] = ['a'].map((id) => contend(name, id)) as [Contender];
    assert.equal(await only.acquired, 'leader');
    const leaseId = (await holder(name))?.lease;
    assert.ok(leaseId);
    const lost = lostFired(only.lock);
    await admin.delete().key(leaderKey(name));
    assert.ok((await lost) instanceof LeadershipLostError);
    assert.equal(only.lock.fence(), undefined);
    // Losing revokes the lease (best effort), so nothing of ours lingers.
    await eventually('the lease is revoked', async () => (await admin.leaseClient.leaseTimeToLive({ ID: leaseId })).TTL === '-1');
  });

  test('acquire rejects with AbortedError when its signal aborts, and never leads afterwards', async () => {
    const name = `${base}-${++seq}`;
    const leader = contend(name, 'leader');
    assert.equal(await leader.acquired, 'leader');
    const ctl = new AbortController();
    const waiter = contend(name, 'waiter', ctl.signal);
    await new Promise((r) => setTimeout(r, 300));
    ctl.abort();
    assert.ok((await waiter.acquired) instanceof AbortedError);
    await leader.lock.release();
    await new Promise((r) => setTimeout(r, TTL * 1000));
    assert.equal(waiter.lock.isLeader(), false);
    assert.equal(await holder(name), undefined);
  });
});
