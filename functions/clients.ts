import type { Config } from '../common/config/types.js';
import { createEtcdClient } from '../common/etcd/connect.js';
import { etcd3Store } from '../common/etcd/etcd3-store.js';
import { etcdReadRetryLogger } from '../common/etcd/read-retry-log.js';
import { instrumentEtcdStore } from '../common/etcd/instrumented.js';
import type { Logger } from '../common/logger.js';
import type { Metrics } from '../common/metrics.js';
import { connectRedis } from '../common/ownership/connect.js';
import type { RedisClients } from '../common/ownership/connect.js';
import type { OwnershipStore } from '../common/ownership/store.js';
import { redisOwnershipStore } from '../common/ownership/redis-store.js';
import type { ReconcileClients } from '../common/reconcile.js';
import { connectZk } from '../common/zk/addon-client.js';
import { connectZkFast, FastPathUnsupportedError } from '../common/zk/fast-client.js';
import { instrumentFastSession, instrumentZkSession } from '../common/zk/instrumented.js';
import type { ZkSession, ZkSessionHooks } from '../common/zk/reader.js';

export interface OpenClients extends ReconcileClients {
  close(): Promise<void>;
}

/**
 * A counted, instrumented ZooKeeper session (entry points only). `--zookeeper-fast-path`: `on` requires
 * the protocol client, `off` uses the addon, `auto` tries the protocol client and falls back to the
 * addon on a server without multiRead (before 3.6).
 */
export async function openZkSession(config: Config, metrics: Metrics, logger: Logger, hooks: ZkSessionHooks = {}, signal?: AbortSignal): Promise<ZkSession> {
  metrics.zkConn.inc();
  const common = {
    signal,
    servers: config.zookeeper.servers,
    sessionTimeoutMs: config.zookeeper.sessionTimeoutMs,
    auth: config.zookeeper.auth,
    logger,
    onConnect: () => metrics.zkConnect.inc(),
    onSessionLost: hooks.onLost,
    onConnection: hooks.onConnection,
  };
  if (config.zookeeper.fastPath !== 'off') {
    try {
      const zk = await connectZkFast({ ...common, onReconnect: hooks.onReconnect, onTreeEvent: hooks.onTreeEvent });
      return instrumentFastSession(zk, metrics);
    } catch (err) {
      if (!(err instanceof FastPathUnsupportedError) || config.zookeeper.fastPath === 'on') throw err;
      logger.info('ZooKeeper does not support multiRead (before 3.6): using the one-request-per-node client');
    }
  }
  return instrumentZkSession(await connectZk(common), metrics);
}

export function ownershipStoreFor(config: Config, redis: RedisClients, metrics: Metrics): OwnershipStore {
  return redisOwnershipStore(redis.main, { instance: config.instance, legacy: redis.legacy, onError: () => metrics.ownershipErrors.inc() });
}

/** Creates the real clients (entry points only). Redis first: without ownership nothing may run. */
export async function openClients(config: Config, metrics: Metrics, logger: Logger): Promise<OpenClients> {
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const redis = await connectRedis(config.redis, config.legacyOwnership).catch((err: unknown) => {
      metrics.ownershipErrors.inc(); // an unreachable ownership store is one, at start-up too
      throw err;
    });
    closers.push(() => redis.close());
    const ownership = ownershipStoreFor(config, redis, metrics);
    const etcdClient = createEtcdClient(config.etcd);
    closers.push(() => etcdClient.close());
    // Said out loud: reads wait for the connection up to the session timeout, which is otherwise a silent pause.
    let granted = (): number => config.zookeeper.sessionTimeoutMs; // until the session below is assigned
    const zk = await openZkSession(config, metrics, logger, {
      onConnection: (up) =>
        up
          ? logger.info('ZooKeeper connection back')
          : logger.warn({ waitSeconds: granted() / 1000 }, 'ZooKeeper connection lost; reconnecting (reads wait up to the session timeout ZooKeeper granted)'),
    });
    granted = () => zk.grantedTimeoutMs();
    closers.push(() => zk.close());
    return { zk, etcd: instrumentEtcdStore(etcd3Store(etcdClient, { onReadRetry: etcdReadRetryLogger(logger) }), metrics), ownership, close };
  } catch (err) {
    await close();
    throw err;
  }
}
