import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../common/config/types.js';
import type { Logger } from '../common/logger.js';
import { connectRedis, isRedisConfigRefused } from '../common/ownership/connect.js';
import type { RedisClients } from '../common/ownership/connect.js';

/** Redis unreachable at start-up: retry after 0.5 s, doubling up to this cap (SPEC §3: fail closed, retry, report). */
const REDIS_RETRY_FIRST_MS = 500;
const REDIS_RETRY_CAP_MS = 10_000;

/**
 * Connects to Redis, retrying with capped exponential backoff while it is unreachable (each failure logged
 * at warn with the delay). Credentials Redis refuses are a configuration error: thrown at once. Resolves
 * null when `signal` aborts first (an attempt still in flight is closed when it settles).
 */
export async function connectRedisRetrying(config: Config, logger: Logger, signal: AbortSignal): Promise<RedisClients | null> {
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal.aborted) resolve('aborted');
    else signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  let delay = REDIS_RETRY_FIRST_MS;
  for (let attempt = 1; !signal.aborted; attempt++) {
    const pending = connectRedis(config.redis, config.legacyOwnership);
    const outcome = await Promise.race([pending.then((clients) => ({ clients }), (err: unknown) => ({ err })), aborted]);
    if (outcome === 'aborted') {
      void pending.then((clients) => clients.close(), () => {});
      return null;
    }
    if ('clients' in outcome) {
      if (attempt > 1) logger.info({ attempt }, 'connected to Redis');
      return outcome.clients;
    }
    if (isRedisConfigRefused(outcome.err)) throw outcome.err;
    // The message names the server and the reason, never the password.
    logger.warn({ attempt, retryInMs: delay, error: (outcome.err as Error).message }, 'Redis unreachable: not ready, retrying');
    await sleep(delay, undefined, { signal, ref: false }).catch(() => undefined); // SIGTERM ends the wait
    delay = Math.min(delay * 2, REDIS_RETRY_CAP_MS);
  }
  return null;
}
