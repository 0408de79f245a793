import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { collectDefaultMetrics } from 'prom-client';
import { loadConfig } from '../common/config/load.js';
import type { Config } from '../common/config/types.js';
import { createEtcdClient } from '../common/etcd/connect.js';
import { etcd3Store } from '../common/etcd/etcd3-store.js';
import { etcdReadRetryLogger } from '../common/etcd/read-retry-log.js';
import { instrumentEtcdStore } from '../common/etcd/instrumented.js';
import { ConfigError, errorLogFields, ExitCode, LeadershipLostError, SteppedDownError } from '../common/errors.js';
import { etcdElectionLock } from '../common/leader/etcd-election.js';
import type { LeaderLock } from '../common/leader/lock.js';
import { noLeaderElection } from '../common/leader/lock.js';
import { createLogger } from '../common/logger.js';
import type { Logger } from '../common/logger.js';
import { createMetrics, createWatcherMetrics } from '../common/metrics.js';
import type { RedisClients } from '../common/ownership/connect.js';
import { shutdownSignal } from '../common/signals.js';
import { openZkSession, ownershipStoreFor } from '../functions/clients.js';
import type { Etcd3 } from 'etcd3';
import { createHttpServer } from './http.js';
import { connectRedisRetrying } from './connect-redis-retrying.js';
import { etcdProbe } from './etcd-probe.js';
import { runSync } from './sync.js';

/** Shutdown is bounded: after this long a SIGTERM'd watcher exits anyway. */
const SHUTDOWN_LIMIT_MS = 20_000;
/** After stepping down, longer than a Lease standby's 2 s retry: another replica takes over first. */
const STEP_DOWN_PAUSE_MS = 5_000;
/** `campaign` counts this process's campaigns: after stepping down it campaigns under a new identity, so a Lease it failed to release is not taken for its own. */
async function leaderLock(config: Config, etcdClient: Etcd3, logger: Logger, campaign = 1): Promise<LeaderLock> {
  const identity = `${hostname()}-${process.pid}${campaign > 1 ? `-${campaign}` : ''}`;
  switch (config.leaderElect) {
    case 'none':
      return noLeaderElection();
    case 'etcd':
      return etcdElectionLock({ client: etcdClient, name: config.leaseName, identity, logger });
    case 'kubernetes': {
      // Loaded only here: @kubernetes/client-node is heavy and only this mode needs it.
      const { kubernetesLeaseLock, leaseApiFromKubeConfig, readPodNamespace } = await import('../common/leader/kubernetes-lease.js');
      return kubernetesLeaseLock({
        api: await leaseApiFromKubeConfig(),
        name: config.leaseName,
        namespace: config.leaseNamespace ?? (await readPodNamespace()),
        identity,
        logger,
      });
    }
  }
}

/** `zk2etcd sync`: the leader-elected watcher. Returns the exit code. */
export async function runSyncCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: Config;
  try {
    config = loadConfig({ command: 'sync', argv, env });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`zk2etcd sync: ${p}\n`);
      return ExitCode.usage;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, 'stdout');
  const metrics = createMetrics();
  const watcherMetrics = createWatcherMetrics(metrics.registry);
  collectDefaultMetrics({ register: metrics.registry });
  // Ready while Redis is connected (every ownership connection), etcd answers the probe and, on the leader,
  // the ZooKeeper session is up. Not leadership: a standby with working clients is ready.
  let redis: RedisClients | null = null;
  let etcdUp: () => boolean = () => false;
  let zkUp = true;
  const redisUp = () => redis !== null && redis.main.status === 'ready' && (redis.legacy === null || redis.legacy.status === 'ready');
  const http = createHttpServer({
    registry: metrics.registry,
    healthy: () => true,
    ready: () => redisUp() && etcdUp() && zkUp,
    setLogLevel: (level) => {
      logger.level = level;
      // Always recorded, whatever the new level hides.
      logger.child({}, { level: 'info' }).info({ newLevel: level }, 'log level changed');
    },
    adminToken: config.adminToken,
  });
  try {
    http.listen(config.httpAddr.port, config.httpAddr.host || undefined);
    await once(http, 'listening');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the address is already in use' : (err as Error).message;
    process.stderr.write(`zk2etcd sync: --http-addr ${config.httpAddr.host}:${config.httpAddr.port}: ${why}; set --http-addr to a free [host]:port\n`);
    return ExitCode.failure;
  }
  const shutdown = shutdownSignal((sig) => {
    logger.info({ signal: sig }, 'stopping: no new events, the batch in flight finishes, leadership is released');
    setTimeout(() => {
      logger.error({ limitSeconds: SHUTDOWN_LIMIT_MS / 1000 }, 'shutdown did not finish in time: exiting now');
      process.exit(ExitCode.failure);
    }, SHUTDOWN_LIMIT_MS).unref();
  });

  const closers: (() => Promise<void> | void)[] = [() => new Promise<void>((resolve) => http.close(() => resolve()))];
  let lock: LeaderLock | null = null;
  let code: number = ExitCode.ok;
  try {
    const etcdClient = createEtcdClient(config.etcd);
    closers.push(() => etcdClient.close());
    const probe = etcdProbe(etcdClient, `${config.etcd.prefix}${config.zookeeper.prefixes[0] ?? '/'}`, logger);
    etcdUp = probe.up;
    closers.push(() => probe.stop()); // closed before the client (closers run in reverse)
    // Before Redis, which may be retried for long: a lease namespace that cannot be found is a config error.
    lock = await leaderLock(config, etcdClient, logger);
    const clients = await connectRedisRetrying(config, logger, shutdown.signal);
    if (clients === null) {
      logger.info('stopped before Redis was reached');
      return code;
    }
    redis = clients;
    closers.push(() => clients.close());
    const etcd = instrumentEtcdStore(etcd3Store(etcdClient, { onReadRetry: etcdReadRetryLogger(logger) }), metrics);
    const ownership = ownershipStoreFor(config, clients, metrics);
    for (let campaign = 1; ; ) {
      try {
        await runSync({
          config,
          metrics,
          watcherMetrics,
          logger,
          lock,
          etcd,
          ownership,
          openZk: (hooks, signal) => openZkSession(config, metrics, logger, hooks, signal),
          signal: shutdown.signal,
          onReady: (r) => {
            zkUp = r;
          },
        });
        break;
      } catch (err) {
        if (!(err instanceof SteppedDownError)) throw err;
        if (shutdown.signal.aborted) break; // SIGTERM during the step-down: a normal stop
        // In-process, not by exiting: after an outage that hit every replica, the one leading when ZooKeeper
        // is back reconnects at once (restarts would have been pushed into CrashLoopBackOff meanwhile).
        logger.error(errorLogFields(err), 'stepped down: standing by, to lead again once the other replicas had their turn');
        await lock.release().catch(() => {});
        zkUp = true; // a standby's readiness does not depend on ZooKeeper
        await sleep(STEP_DOWN_PAUSE_MS, undefined, { signal: shutdown.signal }).catch(() => undefined);
        if (shutdown.signal.aborted) break;
        lock = await leaderLock(config, etcdClient, logger, ++campaign);
      }
    }
    logger.info('stopped');
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`zk2etcd sync: ${p}\n`);
      return (code = ExitCode.usage);
    }
    code = ExitCode.failure;
    const lost = err instanceof LeadershipLostError;
    logger.error(errorLogFields(err), lost ? 'leadership lost: exiting so the pod restarts clean' : 'sync failed');
    if (!lost) process.stderr.write(`zk2etcd sync: ${(err as Error).message}\n`);
  } finally {
    await lock?.release().catch(() => {});
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => {});
    shutdown.dispose();
  }
  return code;
}
