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
  const main = new Redis(port, host, options(cfg, db));
  main.on('error', () => {}); // surfaced through command failures
  let legacy: Redis | null = null;
  const closeAll = async () => {
    main.disconnect();
    if (legacy && legacy !== main) legacy.disconnect();
  };
  try {
    await main.connect();
    await main.ping();
    if (legacyOwnership) {
      if (db === 0) legacy = main;
      else {
        legacy = new Redis(port, host, options(cfg, 0));
        legacy.on('error', () => {});
        await legacy.connect();
      }
    }
  } catch (err) {
    await closeAll();
    throw new OwnershipUnavailableError(
      `cannot reach the ownership store at ${host}:${port}: ${(err as Error).message}; nothing is written or deleted without it (check --redis-server, --redis-password-file, --redis-tls)`,
      { cause: err },
    );
  }
  return { main, legacy, close: closeAll };
}
