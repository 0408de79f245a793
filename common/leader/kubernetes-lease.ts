import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type {
  CoordinationV1ApiCreateNamespacedLeaseRequest,
  CoordinationV1ApiReadNamespacedLeaseRequest,
  CoordinationV1ApiReplaceNamespacedLeaseRequest,
  KubeConfig,
  V1Lease,
} from '@kubernetes/client-node';
import { AbortedError, ConfigError, LeadershipLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import { decide, leaseSpec, recordFromLease, releaseRecord, sameRecord, type LeaseRecord } from './lease-record.js';
import type { LeaderLock } from './lock.js';

const requireLazily = createRequire(import.meta.url);

/** The CoordinationV1Api calls the lock uses (client-node 2.0.1 object-parameter style). */
export interface LeaseApi {
  readNamespacedLease(param: CoordinationV1ApiReadNamespacedLeaseRequest): Promise<V1Lease>;
  createNamespacedLease(param: CoordinationV1ApiCreateNamespacedLeaseRequest): Promise<V1Lease>;
  replaceNamespacedLease(param: CoordinationV1ApiReplaceNamespacedLeaseRequest): Promise<V1Lease>;
}

/**
 * The real API: KUBECONFIG, ~/.kube/config, or the pod's service account (loadFromDefault's order). The
 * package (ES modules only) is loaded here, with require(): the shipped CLI is a CommonJS bundle run from
 * V8's code cache (`bin/load-bundle.ts`), where import() has no loader to call.
 */
export function leaseApiFromKubeConfig(kubeConfig?: KubeConfig): LeaseApi {
  const k8s = requireLazily('@kubernetes/client-node') as typeof import('@kubernetes/client-node');
  let kc = kubeConfig;
  if (kc === undefined) {
    kc = new k8s.KubeConfig();
    kc.loadFromDefault();
  }
  return kc.makeApiClient(k8s.CoordinationV1Api);
}

export const POD_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The pod's own namespace, the default for --lease-namespace. */
export async function readPodNamespace(file = POD_NAMESPACE_FILE): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`--lease-namespace is not set and ${file} cannot be read (${(err as Error).message})`]);
  }
  const ns = text.trim();
  if (ns === '') throw new ConfigError([`--lease-namespace is not set and ${file} is empty`]);
  return ns;
}

export interface KubernetesLeaseOptions {
  api: LeaseApi;
  name: string;
  namespace: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  now?: () => number;
}

type Attempt = 'ok' | 'failed' | 'deposed';

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AbortedError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new AbortedError());
    const onAbort = () => reject(new AbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Leader election on a coordination.k8s.io/v1 Lease with client-go's algorithm (SPEC §6). */
export function kubernetesLeaseLock(opts: KubernetesLeaseOptions): LeaderLock {
  const { api, name, namespace, identity } = opts;
  const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  const now = opts.now ?? Date.now;
  if (!(retryPeriodMs > 0 && renewDeadlineMs > retryPeriodMs && leaseDurationMs > renewDeadlineMs)) {
    throw new ConfigError([
      `leader election needs lease duration > renew deadline > retry period > 0 (got ${leaseDurationMs}ms, ${renewDeadlineMs}ms, ${retryPeriodMs}ms)`,
    ]);
  }
  if (identity === '') throw new ConfigError(['leader election needs a non-empty identity']);
  // Bounded so a hung API call never stalls the loops; the renew deadline has its own timer anyway.
  const requestTimeoutMs = Math.max(retryPeriodMs, Math.floor(renewDeadlineMs / 2));
  const log = opts.logger.child({ component: 'leader', lease: `${namespace}/${name}`, identity });
  const lostController = new AbortController();

  let observed: { record: LeaseRecord; atMs: number; lease: V1Lease } | undefined;
  let leading = false;
  let released = false;
  let inflight: Promise<Attempt> | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;

  const remember = (lease: V1Lease) => {
    observed = { record: recordFromLease(lease), atMs: now(), lease };
  };
  const leaseBody = (metadata: V1Lease['metadata'], record: LeaseRecord): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata,
    spec: leaseSpec(record),
  });

  async function tryAcquireOrRenew(): Promise<Attempt> {
    let lease: V1Lease | null;
    try {
      lease = await withTimeout(api.readNamespacedLease({ name, namespace }), requestTimeoutMs, 'reading the lease');
    } catch (err) {
      if (statusCode(err) !== 404) {
        log.warn({ err }, 'reading the lease failed');
        return 'failed';
      }
      lease = null;
    }
    if (lease !== null) {
      const record = recordFromLease(lease);
      if (observed === undefined || !sameRecord(observed.record, record)) observed = { record, atMs: now(), lease };
      else observed.lease = lease;
      if (leading && record.holderIdentity !== identity) return 'deposed';
    }
    const decision = decide({
      observed: lease === null ? null : observed!.record,
      observedAtMs: observed?.atMs ?? now(),
      nowMs: now(),
      identity,
      leaseDurationMs,
    });
    if (decision.kind === 'held') {
      log.debug({ holder: decision.holder, expiresInMs: decision.expiresInMs }, 'lease held by another replica');
      return 'failed';
    }
    try {
      const written =
        lease === null
          ? await withTimeout(
              api.createNamespacedLease({ namespace, body: leaseBody({ name, namespace }, decision.record) }),
              requestTimeoutMs,
              'creating the lease',
            )
          : await withTimeout(
              api.replaceNamespacedLease({ name, namespace, body: leaseBody(lease.metadata, decision.record) }),
              requestTimeoutMs,
              'updating the lease',
            );
      remember(written);
      return 'ok';
    } catch (err) {
      // 409: another replica wrote first (stale resourceVersion, or it created the lease); not ours this round.
      if (statusCode(err) === 409) log.debug('lease changed under us (409)');
      else log.warn({ err }, 'writing the lease failed');
      return 'failed';
    }
  }

  function track(attempt: Promise<Attempt>): Promise<Attempt> {
    inflight = attempt;
    return attempt;
  }

  function stopTimers() {
    clearTimeout(renewTimer);
    clearTimeout(deadlineTimer);
    renewTimer = deadlineTimer = undefined;
  }

  function loseLeadership(reason: string) {
    if (!leading) return;
    leading = false;
    stopTimers();
    log.error({ reason }, 'lost leadership');
    lostController.abort(new LeadershipLostError(`lost the lease ${namespace}/${name}: ${reason}`));
  }

  // Measured from when the last successful renewal was sent: the others' lease clock started no earlier.
  function armDeadline(sentAtMs: number) {
    clearTimeout(deadlineTimer);
    const delay = Math.max(0, sentAtMs + renewDeadlineMs - now());
    deadlineTimer = setTimeout(() => loseLeadership(`not renewed for ${renewDeadlineMs}ms`), delay);
  }

  function scheduleRenew() {
    renewTimer = setTimeout(() => void renewOnce(), retryPeriodMs);
  }

  async function renewOnce() {
    if (!leading) return;
    const sentAtMs = now();
    const result = await track(tryAcquireOrRenew());
    if (!leading) return; // lost or released while the call was in flight
    if (result === 'ok') armDeadline(sentAtMs);
    else if (result === 'deposed') return loseLeadership(`now held by ${observed?.record.holderIdentity || 'nobody'}`);
    scheduleRenew();
  }

  async function writeRelease(): Promise<void> {
    const current = observed;
    if (current === undefined || current.record.holderIdentity !== identity) return;
    try {
      const body = leaseBody(current.lease.metadata, releaseRecord(current.record, now()));
      remember(await withTimeout(api.replaceNamespacedLease({ name, namespace, body }), requestTimeoutMs, 'releasing the lease'));
      log.info('released the lease');
    } catch (err) {
      log.warn({ err }, 'releasing the lease failed; the others take over when it expires');
    }
  }

  return {
    lost: lostController.signal,
    fence: () => undefined,
    isLeader: () => leading,

    async acquire(signal: AbortSignal) {
      if (lostController.signal.aborted) throw new LeadershipLostError(`lost the lease ${namespace}/${name} already`);
      if (released) throw new AbortedError('the lease was released');
      if (leading) return;
      log.info('waiting to acquire the lease');
      for (;;) {
        if (signal.aborted) throw new AbortedError();
        const sentAtMs = now();
        const attempt = track(tryAcquireOrRenew());
        let result: Attempt;
        try {
          result = await abortable(attempt, signal);
        } catch (err) {
          // Aborted mid-call: if that call still wins the lease, hand it straight back.
          void attempt.then((late) => (late === 'ok' && !leading ? writeRelease() : undefined));
          throw err;
        }
        if (result === 'ok') {
          if (released || signal.aborted) {
            await writeRelease();
            throw new AbortedError();
          }
          leading = true;
          log.info({ leaseTransitions: observed?.record.leaseTransitions }, 'acquired the lease');
          armDeadline(sentAtMs);
          scheduleRenew();
          return;
        }
        // Jitter keeps contenders that started together from polling in lockstep.
        await sleep(retryPeriodMs * (1 + Math.random() * 0.2), signal);
      }
    },

    async release() {
      released = true;
      if (!leading) return;
      leading = false;
      stopTimers();
      // A renewal in flight carries the same resourceVersion; let it land (briefly) so ours does not 409.
      if (inflight !== undefined) await withTimeout(inflight, requestTimeoutMs / 2, 'the last renewal').catch(() => undefined);
      await writeRelease();
    },
  };
}
