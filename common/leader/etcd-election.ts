import { ClientClosedError, EtcdLeaseInvalidError } from 'etcd3';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { AbortedError, LeadershipLostError } from '../errors.js';
import { toEtcdError } from '../etcd/errors.js';
import type { Fence } from '../etcd/store.js';
import type { Logger } from '../logger.js';
import type { LeaderLock } from './lock.js';

/**
 * The leader key of election `name` (SPEC §6, `--leader-elect etcd`): `zk2etcd/leader/<name>`,
 * value = the leader's identity, attached to the leader's lease. Its create revision is the fence
 * that every write transaction compares, so a deposed leader's writes fail.
 */
export function leaderKey(name: string): string {
  return `zk2etcd/leader/${name}`;
}

export interface EtcdElectionOptions {
  client: Etcd3;
  name: string;
  identity: string;
  /** Lease TTL; a crashed leader is replaced after about this long. Default 10. */
  ttlSeconds?: number;
  logger: Logger;
}

const RELEASE_TIMEOUT_MS = 3000;

/** Waits `ms` or until `signal` aborts, whichever comes first; never rejects. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Rejects with AbortedError when `signal` aborts first; settles with `p` otherwise. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms).unref()));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Leader election over an etcd lease and key (the same algorithm as etcd's concurrency.Election, one key). */
export function etcdElectionLock(opts: EtcdElectionOptions): LeaderLock {
  const { client, identity } = opts;
  const ttl = opts.ttlSeconds ?? 10;
  if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`etcd election TTL must be a whole number of seconds >= 1, got ${ttl}`);
  const key = leaderKey(opts.name);
  const keyBuf = Buffer.from(key);
  const log = opts.logger.child({ component: 'leader-election', key, identity });
  const ttlMs = ttl * 1000;
  // The server may expire the lease up to one round trip before `lastKeepAlive + ttl`: give up a bit early.
  const staleMs = ttlMs - Math.min(1000, ttlMs / 4);
  const callDeadline = () => new Date(Date.now() + Math.max(5000, ttlMs));

  const lostCtl = new AbortController();
  const stopCtl = new AbortController();
  let lease: Lease | undefined;
  let leaseId: string | undefined;
  let lastKeepAlive = 0;
  let fence: Fence | undefined;
  let campaign: Promise<void> | undefined;
  let released = false;
  /** The create revision of the last leader key another replica held, to log each new leader once. */
  let lastLeaderSeen: string | undefined;
  // Resources held only while leading.
  let watcher: Watcher | undefined;
  let timers: NodeJS.Timeout[] = [];

  const leaseUsable = () => lease !== undefined && !lease.revoked() && Date.now() - lastKeepAlive < staleMs;

  const cancelWatcher = (w: Watcher | undefined) => {
    if (w) void withTimeout(w.cancel(), RELEASE_TIMEOUT_MS).catch(() => undefined);
  };

  async function grantLease(signal: AbortSignal): Promise<void> {
    await dropLease();
    const l = client.lease(ttl, { deadline: callDeadline() });
    lease = l;
    l.on('keepaliveSucceeded', () => {
      if (l === lease) lastKeepAlive = Date.now();
    });
    l.on('lost', (err) => {
      if (l !== lease) return;
      if (fence) lose('lease lost', err);
      else log.debug({ err }, 'lease lost while campaigning; a new one is granted on the next attempt');
    });
    leaseId = await abortable(l.grant(), signal);
    lastKeepAlive = Date.now();
  }

  /** Revokes the current lease (which also deletes the leader key if it is still attached). Bounded. */
  async function dropLease(): Promise<void> {
    const l = lease;
    lease = undefined;
    leaseId = undefined;
    if (!l) return;
    try {
      await withTimeout(l.revoke({ deadline: new Date(Date.now() + RELEASE_TIMEOUT_MS) }), RELEASE_TIMEOUT_MS);
    } catch (err) {
      log.debug({ err }, 'lease revoke failed; it expires after its TTL');
    }
  }

  function stopLeading(): void {
    for (const t of timers) clearInterval(t);
    timers = [];
    cancelWatcher(watcher);
    watcher = undefined;
  }

  function lose(reason: string, cause?: unknown): void {
    if (!fence || released || lostCtl.signal.aborted) return;
    fence = undefined;
    lostCtl.abort(new LeadershipLostError(`lost leadership of ${key}: ${reason}`, { cause }));
    log.error({ reason, err: cause }, 'leadership lost');
    stopLeading();
    void dropLease();
  }

  function startLeading(createRevision: string): void {
    fence = { key, createRevision };
    log.info({ createRevision }, 'became leader');
    // Any event on our key after its creation means someone else deleted or changed it.
    const w = client.watch().key(key).startRevision(String(BigInt(createRevision) + 1n)).watcher();
    watcher = w;
    w.on('error', (err) => log.warn({ err }, 'leader key watch failed; relying on the periodic check'));
    w.on('delete', () => lose('leader key deleted'));
    w.on('put', () => lose('leader key overwritten'));
    const watchdog = setInterval(() => {
      if (lease?.revoked()) lose('lease revoked');
      else if (Date.now() - lastKeepAlive > staleMs) lose(`no lease keepalive for ${Date.now() - lastKeepAlive} ms`);
    }, Math.max(100, ttlMs / 8));
    // Belt and braces for a watch stream that silently stalls.
    const recheck = setInterval(() => {
      client.kv
        .range({ key: keyBuf }, { deadline: new Date(Date.now() + ttlMs) })
        .then((res) => {
          const kv = res.kvs[0];
          if (!kv || kv.create_revision !== createRevision) lose('leader key no longer ours');
        })
        .catch((err: unknown) => {
          // A closed client's keepalive stream lives on (etcd3 1.1.2), so only this notices it.
          if (err instanceof ClientClosedError) lose('etcd client closed', err);
          else log.debug({ err }, 'leader key check failed');
        });
    }, ttlMs);
    for (const t of [watchdog, recheck]) t.unref();
    timers = [watchdog, recheck];
    if (!leaseUsable()) lose('lease expired while taking the key');
  }

  /** One attempt: the key is ours (its create revision) or someone else's (the revision we saw it at). */
  async function tryTake(): Promise<{ won: true; createRevision: string } | { won: false; seenAt: string }> {
    const res = await client.kv.txn(
      {
        compare: [{ key: keyBuf, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: keyBuf, value: Buffer.from(identity), lease: leaseId } }],
        failure: [{ request_range: { key: keyBuf } }],
      },
      { deadline: callDeadline() },
    );
    // A single-put txn: the key's create revision is the txn's revision.
    if (res.succeeded) return { won: true, createRevision: res.header.revision };
    const holder = res.responses[0]?.response_range?.kvs[0];
    // Ours already: an earlier attempt committed but its answer was lost.
    if (holder && holder.lease === leaseId) return { won: true, createRevision: holder.create_revision };
    if (holder) {
      // At info once per leader, so a standby's log says why it waits; its re-checks at debug.
      const level = holder.create_revision === lastLeaderSeen ? 'debug' : 'info';
      lastLeaderSeen = holder.create_revision;
      log[level]({ leader: holder.value.toString(), createRevision: holder.create_revision }, 'another replica leads; waiting for the leader key to go');
    }
    return { won: false, seenAt: res.header.revision };
  }

  /** Waits until the key is deleted after `seenAt`, with a periodic re-check in case the watch stalls. */
  async function awaitVacancy(seenAt: string, signal: AbortSignal): Promise<void> {
    const w = client.watch().key(key).startRevision(String(BigInt(seenAt) + 1n)).only('delete').watcher();
    const inner = new AbortController();
    const wake = () => inner.abort();
    w.on('delete', wake);
    // Not a wake-up: a watch the server keeps cancelling must not turn this into a busy loop.
    w.on('error', (err) => log.debug({ err }, 'watch on the leader key failed; re-checking after the TTL'));
    try {
      await sleep(ttlMs, AbortSignal.any([signal, inner.signal]));
    } finally {
      cancelWatcher(w);
    }
  }

  async function campaignLoop(signal: AbortSignal): Promise<void> {
    let backoff = 100;
    for (;;) {
      if (signal.aborted) {
        await dropLease();
        throw new AbortedError('leader election aborted');
      }
      try {
        if (!leaseUsable()) await grantLease(signal);
        const attempt = await abortable(tryTake(), signal);
        if (attempt.won) {
          if (signal.aborted) {
            await relinquish({ key, createRevision: attempt.createRevision });
            throw new AbortedError('leader election aborted');
          }
          startLeading(attempt.createRevision);
          return;
        }
        await awaitVacancy(attempt.seenAt, signal);
        backoff = 100;
      } catch (err) {
        if (signal.aborted) continue;
        if (err instanceof EtcdLeaseInvalidError) {
          log.debug('lease expired before the key was taken; granting a new one');
          await dropLease();
          continue;
        }
        const e = toEtcdError(err, 'election');
        if (!e.retryable) {
          await dropLease();
          throw e;
        }
        log.warn({ err: e, retryInMs: backoff }, 'leader election attempt failed');
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, ttlMs);
      }
    }
  }

  /** Deletes the key if it is still ours, then revokes the lease. Bounded, never throws. */
  /** Deletes our leader key if it is still ours, then the lease; says what became of the key. */
  async function relinquish(held: Fence | undefined): Promise<'deleted' | 'not ours' | 'failed' | 'none'> {
    let outcome: 'deleted' | 'not ours' | 'failed' | 'none' = 'none';
    if (held) {
      try {
        const res = await withTimeout(
          client.kv.txn(
            {
              compare: [{ key: keyBuf, target: 'Create', result: 'Equal', create_revision: held.createRevision }],
              success: [{ request_delete_range: { key: keyBuf } }],
              failure: [],
            },
            { deadline: new Date(Date.now() + RELEASE_TIMEOUT_MS) },
          ),
          RELEASE_TIMEOUT_MS,
        );
        outcome = res === undefined ? 'failed' : res.succeeded ? 'deleted' : 'not ours';
        if (res === undefined) log.warn('deleting the leader key timed out; it goes when the lease is revoked or expires');
      } catch (err) {
        outcome = 'failed';
        log.warn({ err }, 'could not delete the leader key; it goes when the lease is revoked or expires');
      }
    }
    await dropLease();
    return outcome;
  }

  return {
    lost: lostCtl.signal,
    fence: () => fence,
    isLeader: () => fence !== undefined,

    acquire(signal: AbortSignal): Promise<void> {
      if (fence) return Promise.resolve();
      if (released) return Promise.reject(new AbortedError('leader lock already released'));
      if (lostCtl.signal.aborted) return Promise.reject(lostCtl.signal.reason as Error);
      if (campaign) return campaign;
      const running = campaignLoop(AbortSignal.any([signal, stopCtl.signal]));
      campaign = running;
      void running.then(
        () => (campaign = undefined),
        () => (campaign = undefined),
      );
      return running;
    },

    async release(): Promise<void> {
      if (released) return;
      released = true;
      stopCtl.abort();
      if (campaign) await withTimeout(campaign.catch(() => undefined), RELEASE_TIMEOUT_MS);
      const held = fence;
      fence = undefined;
      stopLeading();
      const outcome = await relinquish(held);
      if (outcome === 'deleted') log.info('released leadership');
      else if (outcome === 'not ours') log.info('the leader key was no longer ours (the lease had expired): nothing to release');
    },
  };
}
