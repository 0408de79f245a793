import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { OwnershipUnavailableError } from '../errors.js';
import { withRetry } from '../retry.js';
import type { LegacyAdoption, OwnershipRecord, OwnershipStore } from './store.js';
import { parseRecord } from './store.js';
import { DEL_LEGACY, FORGET_DELETED, FORGET_IF_UNCHANGED, MARK_PENDING, RECORD_REVISION, RESTORE, SETTLE_FOUND, SETTLE_PENDING } from './redis-scripts.js';

export interface RedisOwnershipOptions {
  readonly instance: string;
  /** Also accept zk2etcd 1.x records: plain string keys equal to the etcd key in DB 0. */
  readonly legacy: Redis | null;
  readonly onError?: (err: unknown) => void;
  /** Age a `pending` mark must reach before a reconcile settles it as a crash's leftover (default 15 minutes). */
  readonly settleAfterSeconds?: number;
}

/** Far longer than any write stays in flight (its etcd retries and deadlines take well under a minute). */
const SETTLE_AFTER_SECONDS = 15 * 60;

const CHUNK = 1000;
/** Commands defined on the client (sent as EVALSHA once loaded on a connection). */
const MARK_PENDING_COMMAND = 'zk2etcdMarkPending';
const RECORD_REVISION_COMMAND = 'zk2etcdRecordRevision';
type ScriptCommand<R> = (hash: string, ...args: string[]) => Promise<R>;
const RETRY = { attempts: 3, baseDelayMs: 200, maxDelayMs: 1000 };

/**
 * Which keys hold a zk2etcd 1.x record: a plain string named after the etcd key. A key of another type
 * under such a name is someone else's data (Dubbo's Redis registry keeps hashes named like its paths).
 */
async function legacyRecords(legacy: Redis, keys: readonly string[]): Promise<boolean[]> {
  const p = legacy.pipeline();
  for (const k of keys) p.type(k);
  const res = (await p.exec()) ?? [];
  return res.map(([err, type]) => {
    if (err) throw err;
    return type === 'string';
  });
}

/** One hash per instance: `zk2etcd:{<instance>}:owned`, field = etcd key, value = mod revision or `pending`. */
export function ownershipHashKey(instance: string): string {
  return `zk2etcd:{${instance}}:owned`;
}

/** Redis-backed OwnershipStore. Every failure becomes OwnershipUnavailableError: callers fail closed. */
export function redisOwnershipStore(redis: Redis, opts: RedisOwnershipOptions): OwnershipStore {
  const hash = ownershipHashKey(opts.instance);
  // ioredis sends a defined command as EVAL the first time on each connection, EVALSHA after that (and
  // again as EVAL on NOSCRIPT): the script body is not resent with every chunk.
  const commands = redis as unknown as Record<string, ScriptCommand<unknown> | undefined>;
  const script = <R>(name: string, lua: string): ScriptCommand<R> => {
    if (typeof commands[name] !== 'function') redis.defineCommand(name, { numberOfKeys: 1, lua });
    return (commands[name] as ScriptCommand<R>).bind(redis);
  };
  const markPendingScript = script<number>(MARK_PENDING_COMMAND, MARK_PENDING);
  const recordRevisionScript = script<number>(RECORD_REVISION_COMMAND, RECORD_REVISION);
  // Each markPending call's own token: a record still holding its layer is that write's to settle or put
  // back, so a writer deposed meanwhile (a frozen leader resumed) never overwrites what the new leader recorded.
  const writer = randomBytes(6).toString('hex');
  let calls = 0;
  const call = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    withRetry(async () => {
      try {
        return await fn();
      } catch (err) {
        opts.onError?.(err);
        throw new OwnershipUnavailableError(
          `ownership store (Redis) ${what} failed: ${(err as Error).message}; nothing is written or deleted until it answers (check --redis-server)`,
          { cause: err },
        );
      }
    }, RETRY);

  const chunks = <T>(items: readonly T[]): T[][] => {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
    return out;
  };

  /** Runs a per-field script over (field, value) pairs in chunks; sums the counts it returns. */
  const evalPairs = async (what: string, script: string, pairs: ReadonlyMap<string, string>): Promise<number> => {
    let n = 0;
    for (const chunk of chunks([...pairs])) n += Number(await call(what, () => redis.eval(script, 1, hash, ...chunk.flat())));
    return n;
  };

  return {
    async lookup(keys) {
      const out = new Map<string, OwnershipRecord>();
      for (const chunk of chunks(keys)) {
        const values = await call('lookup', () => redis.hmget(hash, ...chunk));
        const unrecorded: string[] = [];
        chunk.forEach((k, i) => {
          const v = values[i];
          if (v !== null && v !== undefined) out.set(k, parseRecord(v));
          else unrecorded.push(k);
        });
        const legacy = opts.legacy;
        if (legacy && unrecorded.length > 0) {
          const records = await call('legacy lookup', () => legacyRecords(legacy, unrecorded));
          unrecorded.forEach((k, i) => {
            if (records[i]) out.set(k, { kind: 'legacy' });
          });
        }
      }
      return out;
    },

    async markPending(keys) {
      const token = `${writer}.${++calls}.${Math.floor(Date.now() / 1000)}`;
      for (const chunk of chunks(keys)) await call('mark pending', () => markPendingScript(hash, token, ...chunk));
      return { token };
    },

    async restore(marks, keys) {
      for (const chunk of chunks(keys)) await call('restore', () => redis.eval(RESTORE, 1, hash, marks.token, ...chunk));
    },

    async settleFound(marks, found) {
      const ours = new Set<string>();
      for (const chunk of chunks([...found])) {
        const flags = (await call('settle found', () => redis.eval(SETTLE_FOUND, 1, hash, marks.token, ...chunk.flat()))) as number[];
        chunk.forEach(([key], i) => {
          if (flags[i] === 1) ours.add(key);
        });
      }
      return ours;
    },

    async recordRevision(marks, writes, revision) {
      let lost = 0;
      for (const chunk of chunks([...writes])) {
        const pairs = chunk.flatMap(([key, expected]) => [key, expected ?? '']);
        lost += Number(await call('record', () => recordRevisionScript(hash, marks.token, revision, ...pairs)));
      }
      return lost;
    },

    async scan(filter) {
      const out = new Map<string, string>();
      const page = (cursor: string) => call('scan', () => redis.hscan(hash, cursor, 'COUNT', 1000));
      let next = page('0');
      for (;;) {
        const [cursor, flat] = await next;
        if (cursor !== '0') {
          // Ask for the next page before filtering this one, so Redis and the socket work while we hash.
          next = page(cursor);
          next.catch(() => undefined); // awaited on the next turn; unobserved only if the filter throws
        }
        for (let i = 0; i + 1 < flat.length; i += 2) if (filter(flat[i] as string, flat[i + 1] as string)) out.set(flat[i] as string, flat[i + 1] as string);
        // Let go of the page's strings (~1 KB keys) now. The reply array stays reachable a while after
        // this iteration (from objects already in the old generation), long enough for V8 to move the
        // strings there too, where only a full collection frees them (~65 MB for 70k records).
        flat.length = 0;
        if (cursor === '0') return out;
      }
    },

    forgetIfUnchanged(records) {
      return evalPairs('prune', FORGET_IF_UNCHANGED, records);
    },

    async isEmpty() {
      if (opts.legacy) return false; // 1.x records are plain keys: no cheap way to know there are none
      return (await call('count', () => redis.hlen(hash))) === 0;
    },

    async settlePending(revisions) {
      const age = String(opts.settleAfterSeconds ?? SETTLE_AFTER_SECONDS);
      let n = 0;
      for (const chunk of chunks([...revisions])) n += Number(await call('settle pending', () => redis.eval(SETTLE_PENDING, 1, hash, age, ...chunk.flat())));
      return n;
    },

    async adoptLegacy(patterns, inScope, revisionsOf): Promise<LegacyAdoption> {
      const legacy = opts.legacy;
      const total = { adopted: 0, removed: 0 };
      if (!legacy) return total;
      const adopt = async (keys: readonly string[]): Promise<void> => {
        const revisions = await revisionsOf(keys);
        const present = keys.filter((k) => revisions.has(k));
        let adopted = 0;
        // Ours first, then the 1.x record goes: a crash in between leaves both, and the next run ends it.
        if (present.length > 0) {
          const set = await call('adopt legacy', async () => {
            const m = redis.multi();
            for (const k of present) m.hsetnx(hash, k, revisions.get(k) as string);
            return ((await m.exec()) ?? []).map(([err, n]) => {
              if (err) throw err;
              return n === 1;
            });
          });
          adopted = set.filter(Boolean).length;
        }
        total.adopted += adopted;
        total.removed += keys.length - adopted;
        await call('legacy forget', () => legacy.eval(DEL_LEGACY, keys.length, ...keys));
      };
      for (const pattern of patterns) {
        let cursor = '0';
        do {
          const [next, found] = await call('legacy scan', () => legacy.scan(cursor, 'MATCH', pattern, 'COUNT', CHUNK));
          cursor = next;
          // SCAN may return a key twice: HSETNX and DEL are idempotent, and counted once by HSETNX.
          const named = [...new Set(found)].filter(inScope);
          // Only strings are 1.x records: DB 0 may hold other data under such names (Dubbo's Redis registry keeps hashes).
          const strings = named.length > 0 ? await call('legacy type check', () => legacyRecords(legacy, named)) : [];
          const keys = named.filter((_, i) => strings[i]);
          if (keys.length > 0) await adopt(keys);
        } while (cursor !== '0');
      }
      return total;
    },

    async forget(deleted) {
      // Records at the deleted revision and `pending` ones go; a revision another writer recorded meanwhile (a
      // new leader re-creating the key) stays.
      await evalPairs('forget', FORGET_DELETED, deleted);
      const legacy = opts.legacy;
      if (legacy) for (const chunk of chunks([...deleted.keys()])) await call('legacy forget', () => legacy.eval(DEL_LEGACY, chunk.length, ...chunk));
    },
  };
}
