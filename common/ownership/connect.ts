import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Config } from '../config/types.js';
import { OwnershipUnavailableError } from '../errors.js';

/** Options shared by every Redis connection: fail fast instead of queueing while disconnected. */
function options(cfg: Config['redis'], db: number): RedisOptions {
  return {
    username: cfg.username ?? undefined,
    password: cfg.password ?? undefined,
    tls: cfg.tls ? {} : undefined,
    db,
    lazyConnect: true,
    connectTimeout: 5000,
    commandTimeout: 5000, // a stalled Redis fails the call (fail closed) instead of hanging the write path
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
}

/** Errors of connectRedis that retrying cannot fix (the server refused our credentials or database). */
const refusals = new WeakSet<object>();

/**
 * True when `err` (from connectRedis) says Redis refused our configuration: the credentials (WRONGPASS,
 * NOAUTH, an invalid password) or the database number. Not an outage, so a retry loop should give up on it.
 */
export function isRedisConfigRefused(err: unknown): boolean {
  return typeof err === 'object' && err !== null && refusals.has(err);
}

function refused(err: Error | null): boolean {
  return err?.name === 'ReplyError' && /^(WRONGPASS|NOAUTH)\b|invalid (username-)?password|DB index is out of range/i.test(err.message);
}

export interface RedisClients {
  readonly main: Redis;
  /** DB 0, for zk2etcd 1.x records; the same client when main is on DB 0. */
  readonly legacy: Redis | null;
  close(): Promise<void>;
}

/** Connects (and pings) Redis; throws OwnershipUnavailableError naming the server when it cannot. */
export async function connectRedis(cfg: Config['redis'], legacyOwnership: boolean): Promise<RedisClients> {
  const u = new URL(cfg.url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 6379);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  // connect() only rejects with "Connection is closed."; the reason (refused, timed out, WRONGPASS) is the
  // last 'error' event. Only its message is kept: a reply error carries the command's arguments (AUTH's password).
  let lastError: Error | null = null;
  const remember = (err: Error) => {
    lastError = err;
  };
  const main = new Redis(port, host, options(cfg, db));
  main.on('error', remember); // otherwise surfaced through command failures
  let legacy: Redis | null = null;
  const closeAll = async () => {
    main.disconnect();
    if (legacy && legacy !== main) legacy.disconnect();
  };
  try {
    await main.connect();
    // ioredis sends the SELECT of `db` on connect but only reports a refusal as an 'error' event and stays
    // on DB 0: the records would go to another database, silently. Selecting again surfaces the refusal.
    if (db !== 0) await main.select(db);
    await main.ping();
    // The same on a reconnect (a server restarted with fewer databases): the refusal arrives before the
    // connection is ready, so closing it here keeps every later command off DB 0; they fail, closed.
    if (db !== 0) main.on('error', (err: Error) => /DB index is out of range/.test(err.message) && main.disconnect());
    if (legacyOwnership) {
      if (db === 0) legacy = main;
      else {
        legacy = new Redis(port, host, options(cfg, 0));
        legacy.on('error', remember);
        await legacy.connect();
      }
    }
  } catch (err) {
    await closeAll();
    const reason = lastError as Error | null;
    const detail = reason && reason.message !== (err as Error).message ? `${(err as Error).message} (${reason.message})` : (err as Error).message;
    const isRefusal = refused(reason) || refused(err as Error);
    const what = isRefusal ? `the ownership store at ${host}:${port} refused the connection` : `cannot reach the ownership store at ${host}:${port}`;
    const failure = new OwnershipUnavailableError(
      `${what}: ${detail}; nothing is written or deleted without it (check --redis-server and its /db, --redis-password-file, --redis-tls)`,
      { cause: err },
    );
    if (isRefusal) refusals.add(failure);
    throw failure;
  }
  return { main, legacy, close: closeAll };
}
