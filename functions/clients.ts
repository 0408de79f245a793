import type { Config } from '../common/config/types.js';
import { createEtcdClient } from '../common/etcd/connect.js';
import { etcd3Store } from '../common/etcd/etcd3-store.js';
import { instrumentEtcdStore } from '../common/etcd/instrumented.js';
import type { Logger } from '../common/logger.js';
import type { Metrics } from '../common/metrics.js';
import { connectRedis } from '../common/ownership/connect.js';
import { redisOwnershipStore } from '../common/ownership/redis-store.js';
import type { ReconcileClients } from '../common/reconcile.js';
import { connectZk } from '../common/zk/addon-client.js';
import { instrumentZkReader } from '../common/zk/instrumented.js';

export interface OpenClients extends ReconcileClients {
  close(): Promise<void>;
}

/** Creates the real clients (entry points only). Redis first: without ownership nothing may run. */
export async function openClients(config: Config, metrics: Metrics, logger: Logger): Promise<OpenClients> {
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const redis = await connectRedis(config.redis, config.legacyOwnership);
    closers.push(() => redis.close());
    const ownership = redisOwnershipStore(redis.main, {
      instance: config.instance,
      legacy: redis.legacy,
      onError: () => metrics.ownershipErrors.inc(),
    });
    const etcdClient = createEtcdClient(config.etcd);
    closers.push(() => etcdClient.close());
    metrics.zkConn.inc();
    const zk = await connectZk({
      servers: config.zookeeper.servers,
      sessionTimeoutMs: config.zookeeper.sessionTimeoutMs,
      auth: config.zookeeper.auth,
      logger,
      onConnect: () => metrics.zkConnect.inc(),
    });
    closers.push(() => zk.close());
    return { zk: instrumentZkReader(zk, metrics), etcd: instrumentEtcdStore(etcd3Store(etcdClient), metrics), ownership, close };
  } catch (err) {
    await close();
    throw err;
  }
}
