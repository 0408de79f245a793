import type { Etcd3 } from 'etcd3';
import type { Logger } from '../common/logger.js';

/** The etcd readiness probe: one keys-only read this often, each bounded by the timeout. */
const ETCD_PROBE_EVERY_MS = 3_000;
const ETCD_PROBE_TIMEOUT_MS = 2_000;

/**
 * etcd readiness: the etcd3 client connects lazily, so "connected" is only known by asking. A keys-only
 * read of the first mirrored key (a key the configured user may read) runs every few seconds; the result
 * is cached. Up means the last probe succeeded and is recent. Its timers are unref'd and stop() ends it.
 */
export function etcdProbe(client: Etcd3, key: string, logger: Logger): { up(): boolean; stop(): void } {
  let lastOkAt: number | null = null;
  let state: 'unknown' | 'up' | 'down' = 'unknown';
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const run = async () => {
    let limit: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.get(key).options({ deadline: new Date(Date.now() + ETCD_PROBE_TIMEOUT_MS) }).exists(),
        new Promise((_, reject) => {
          // Also bounds the auth token request, which has the client's own (longer) deadline.
          limit = setTimeout(() => reject(new Error(`no answer within ${ETCD_PROBE_TIMEOUT_MS} ms`)), ETCD_PROBE_TIMEOUT_MS + 500);
          limit.unref();
        }),
      ]);
      lastOkAt = Date.now();
      if (state !== 'up' && !stopped) logger.info('etcd answers');
      state = 'up';
    } catch (err) {
      lastOkAt = null;
      if (state !== 'down' && !stopped) logger.warn({ error: (err as Error).message }, 'etcd does not answer: not ready');
      state = 'down';
    } finally {
      clearTimeout(limit);
    }
    if (!stopped) {
      timer = setTimeout(() => void run(), ETCD_PROBE_EVERY_MS);
      timer.unref();
    }
  };
  void run();
  return {
    // A probe that hangs (no answer, no error) also ends readiness once its last success is old.
    up: () => lastOkAt !== null && Date.now() - lastOkAt < 2 * ETCD_PROBE_EVERY_MS + ETCD_PROBE_TIMEOUT_MS,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
