import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiException, type V1Lease } from '@kubernetes/client-node';
import { AbortedError, LeadershipLostError } from '../../common/errors.js';
import { kubernetesLeaseLock } from '../../common/leader/kubernetes-lease.js';
import { formatMicroTime, MICRO_TIME_PATTERN } from '../../common/leader/lease-record.js';
import type { LeaderLock } from '../../common/leader/lock.js';
import { silentLogger } from '../../common/logger.js';
import { FakeLeaseServer, type LoggedRequest } from '../helpers/fake-lease-server.js';

/**
 * Kubernetes Lease leader election (SPEC §6) against a fake API server. Timings are short; the
 * assertions are orderings and eventual states, plus lower bounds the algorithm guarantees.
 */

const NS = 'zk2etcd';
const LEASE = 'zk2etcd';
const FAST = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };
type Timing = typeof FAST;
/** A broken lock tends to wait forever rather than fail. */
const BOUNDED = { timeout: 30_000 };

interface Event {
  readonly id: string;
  readonly kind: 'acquired' | 'lost';
  readonly at: number;
}

interface Contender {
  readonly id: string;
  readonly lock: LeaderLock;
  readonly acquired: Promise<string>;
  stop(): Promise<void>;
}

async function startServer(t: TestContext): Promise<FakeLeaseServer> {
  const server = await FakeLeaseServer.start();
  t.after(() => server.close());
  return server;
}

function contender(t: TestContext, server: FakeLeaseServer, id: string, events: Event[], timing: Timing = FAST): Contender {
  const lock = kubernetesLeaseLock({ api: server.client(id), name: LEASE, namespace: NS, identity: id, logger: silentLogger(), ...timing });
  const stopAcquiring = new AbortController();
  lock.lost.addEventListener('abort', () => events.push({ id, kind: 'lost', at: Date.now() }));
  const acquired = lock.acquire(stopAcquiring.signal).then(() => {
    events.push({ id, kind: 'acquired', at: Date.now() });
    return id;
  });
  acquired.catch(() => undefined); // stopped before acquiring: expected at teardown
  const stop = async () => {
    stopAcquiring.abort();
    await lock.release();
  };
  t.after(stop);
  return { id, lock, acquired, stop };
}

/** Fails the test if two contenders ever believe they lead at the same moment. */
function watchSingleLeader(t: TestContext, contenders: readonly Contender[]): () => void {
  const violations: string[] = [];
  const timer = setInterval(() => {
    const leaders = contenders.filter((c) => c.lock.isLeader()).map((c) => c.id);
    if (leaders.length > 1) violations.push(leaders.join('+'));
  }, 10);
  const check = () => {
    clearInterval(timer);
    assert.deepEqual(violations, [], 'two leaders at once');
  };
  t.after(() => clearInterval(timer));
  return check;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

const spec = (server: FakeLeaseServer) => server.spec(NS, LEASE) ?? {};
const isWrite = (r: LoggedRequest) => r.method === 'PUT' || r.method === 'POST';
const lastSuccessfulWrite = (server: FakeLeaseServer, token: string) =>
  Math.max(...server.requests.filter((r) => r.token === token && isWrite(r) && r.status < 300).map((r) => r.at));

describe('Kubernetes Lease leader election', () => {
  test('exactly one of three contenders leads, and keeps the lease by renewing it', BOUNDED, async (t) => {
    const server = await startServer(t);
    const events: Event[] = [];
    const all = ['a', 'b', 'c'].map((id) => contender(t, server, id, events));
    const checkSingle = watchSingleLeader(t, all);
    const leader = await Promise.race(all.map((c) => c.acquired));
    const firstRenew = spec(server).renewTime;
    await delay(2 * FAST.leaseDurationMs); // the others keep retrying all along

    assert.deepEqual(all.filter((c) => c.lock.isLeader()).map((c) => c.id), [leader]);
    assert.deepEqual(events.map((e) => `${e.id}:${e.kind}`), [`${leader}:acquired`]);
    assert.equal(spec(server).holderIdentity, leader);
    assert.equal(spec(server).leaseTransitions, 0);
    assert.notEqual(spec(server).renewTime, firstRenew, 'the leader renews');
    assert.ok(all.every((c) => !c.lock.lost.aborted));
    checkSingle();
  });

  test('after the leader stops renewing, another takes over only once the lease has expired', BOUNDED, async (t) => {
    const server = await startServer(t);
    const events: Event[] = [];
    const all = ['a', 'b', 'c'].map((id) => contender(t, server, id, events));
    const checkSingle = watchSingleLeader(t, all);
    const leader = await Promise.race(all.map((c) => c.acquired));
    await delay(3 * FAST.retryPeriodMs);

    // The leader's requests never come back: from the others' view it crashed.
    server.setInterceptor((req) => (req.token === leader ? { hang: true } : undefined));
    const next = await Promise.race(all.filter((c) => c.id !== leader).map((c) => c.acquired));
    const lastRenewal = lastSuccessfulWrite(server, leader);
    const takeover = events.find((e) => e.id === next && e.kind === 'acquired')!;
    const lost = events.find((e) => e.id === leader && e.kind === 'lost');

    assert.ok(takeover.at - lastRenewal >= FAST.leaseDurationMs, 'took over before the lease expired');
    assert.ok(lost !== undefined && lost.at <= takeover.at, 'the old leader stepped down first');
    assert.equal(spec(server).holderIdentity, next);
    assert.equal(spec(server).leaseTransitions, 1);
    checkSingle();
  });

  test('a clean release hands over well before the lease would expire, without aborting lost', BOUNDED, async (t) => {
    const slow = { leaseDurationMs: 8000, renewDeadlineMs: 5000, retryPeriodMs: 200 };
    const server = await startServer(t);
    const events: Event[] = [];
    const all = ['a', 'b', 'c'].map((id) => contender(t, server, id, events, slow));
    const checkSingle = watchSingleLeader(t, all);
    const leaderId = await Promise.race(all.map((c) => c.acquired));
    const leader = all.find((c) => c.id === leaderId)!;
    await delay(3 * slow.retryPeriodMs); // the others have observed the record

    const releasedAt = Date.now();
    await leader.lock.release();
    assert.equal(leader.lock.isLeader(), false);
    const released = server.requests.filter((r) => r.token === leader.id && r.method === 'PUT').at(-1)!;
    assert.equal(released.status, 200);
    const releasedSpec = (JSON.parse(released.body) as V1Lease).spec!;
    assert.equal(releasedSpec.holderIdentity, '');
    assert.equal(releasedSpec.leaseDurationSeconds, 1);

    const next = await Promise.race(all.filter((c) => c !== leader).map((c) => c.acquired));
    const takeover = events.find((e) => e.id === next && e.kind === 'acquired')!;
    assert.ok(takeover.at - releasedAt < slow.leaseDurationMs / 2, 'waited for the lease to expire instead');
    assert.equal(leader.lock.lost.aborted, false);
    assert.equal(spec(server).holderIdentity, next);
    assert.equal(spec(server).leaseTransitions, 1);
    await assert.rejects(leader.lock.acquire(new AbortController().signal), AbortedError);
    checkSingle();
  });

  test('renew failures for longer than the renew deadline abort lost, and renewing stops', BOUNDED, async (t) => {
    const server = await startServer(t);
    const events: Event[] = [];
    const only = contender(t, server, 'a', events);
    await only.acquired;
    await delay(2 * FAST.retryPeriodMs);

    server.setInterceptor(() => ({ status: 500 }));
    await waitFor(() => only.lock.lost.aborted, 'lost');
    const lost = events.find((e) => e.kind === 'lost')!;
    assert.ok(only.lock.lost.reason instanceof LeadershipLostError);
    assert.equal(only.lock.isLeader(), false);
    // Loose: the deadline counts from when the last renewal was sent, not when it was answered.
    assert.ok(lost.at - lastSuccessfulWrite(server, 'a') >= FAST.renewDeadlineMs / 2, 'gave up at the first failure');
    assert.equal(spec(server).holderIdentity, 'a', 'nobody else wrote the lease');

    server.setInterceptor(undefined);
    await delay(2 * FAST.retryPeriodMs);
    const count = server.requests.length;
    await delay(4 * FAST.retryPeriodMs);
    assert.equal(server.requests.length, count, 'still calling the API after losing');
    await assert.rejects(only.lock.acquire(new AbortController().signal), LeadershipLostError);
  });

  test('the fake answers a stale resourceVersion and a duplicate create with 409', BOUNDED, async (t) => {
    const server = await startServer(t);
    const api = server.client('direct');
    const body = (): V1Lease => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: LEASE, namespace: NS }, spec: { holderIdentity: 'x' } });
    await api.createNamespacedLease({ namespace: NS, body: body() });
    await assert.rejects(api.createNamespacedLease({ namespace: NS, body: body() }), (e) => e instanceof ApiException && e.code === 409);
    const read = await api.readNamespacedLease({ name: LEASE, namespace: NS });
    await api.replaceNamespacedLease({ name: LEASE, namespace: NS, body: { ...body(), metadata: read.metadata } });
    await assert.rejects(
      api.replaceNamespacedLease({ name: LEASE, namespace: NS, body: { ...body(), metadata: read.metadata } }),
      (e) => e instanceof ApiException && e.code === 409,
    );
    await assert.rejects(api.readNamespacedLease({ name: 'absent', namespace: NS }), (e) => e instanceof ApiException && e.code === 404);
  });

  test('two contenders writing the same resourceVersion: one gets 409, only one leads', BOUNDED, async (t) => {
    const server = await startServer(t);
    const now = formatMicroTime(Date.now());
    server.seed(NS, LEASE, { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: 4 });
    // Hold the first two reads until both arrived, so both writes carry the same resourceVersion.
    const waiting: (() => void)[] = [];
    server.setInterceptor(async (req) => {
      if (req.method !== 'GET' || waiting.length >= 2) return undefined;
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) waiting.forEach((release) => release());
      });
      return undefined;
    });
    const events: Event[] = [];
    const both = ['a', 'b'].map((id) => contender(t, server, id, events));
    const checkSingle = watchSingleLeader(t, both);
    const leader = await Promise.race(both.map((c) => c.acquired));
    await delay(2 * FAST.leaseDurationMs);

    const puts = server.requests.filter((r) => r.method === 'PUT');
    assert.deepEqual(puts.slice(0, 2).map((r) => r.status).sort(), [200, 409]);
    assert.equal(puts.find((r) => r.status === 409)!.token !== leader, true);
    assert.deepEqual(both.filter((c) => c.lock.isLeader()).map((c) => c.id), [leader]);
    assert.equal(spec(server).holderIdentity, leader);
    assert.equal(spec(server).leaseTransitions, 5);
    checkSingle();
  });

  test('leaseTransitions counts changes of holder, not renewals', BOUNDED, async (t) => {
    const server = await startServer(t);
    const events: Event[] = [];
    const a = contender(t, server, 'a', events);
    await a.acquired;
    await delay(3 * FAST.retryPeriodMs);
    assert.equal(spec(server).leaseTransitions, 0);

    const b = contender(t, server, 'b', events);
    await a.stop();
    await b.acquired;
    assert.equal(spec(server).leaseTransitions, 1);
    await delay(3 * FAST.retryPeriodMs);
    assert.equal(spec(server).leaseTransitions, 1);

    const a2 = contender(t, server, 'a', events);
    await b.stop();
    await a2.acquired;
    assert.equal(spec(server).holderIdentity, 'a');
    assert.equal(spec(server).leaseTransitions, 2);
  });

  test('lease times go over the wire as MicroTime with six fractional digits', BOUNDED, async (t) => {
    const server = await startServer(t);
    const a = contender(t, server, 'a', []);
    await a.acquired;
    await delay(3 * FAST.retryPeriodMs);
    await a.stop();

    const writes = server.requests.filter(isWrite);
    assert.ok(writes.length >= 3, 'create, renewals and release');
    for (const w of writes) {
      assert.equal(w.status < 300, true, `${w.method} answered ${w.status}`);
      const sent = (JSON.parse(w.body) as { spec: Record<string, unknown> }).spec;
      assert.match(String(sent.acquireTime), MICRO_TIME_PATTERN);
      assert.match(String(sent.renewTime), MICRO_TIME_PATTERN);
    }
    // The fake rejects what a plain Date serializes to (`.123Z`), like the API server.
    const api = server.client('direct');
    const plain = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'plain' }, spec: { renewTime: new Date() } };
    await assert.rejects(api.createNamespacedLease({ namespace: NS, body: plain }), (e) => e instanceof ApiException && e.code === 422);
  });
});
