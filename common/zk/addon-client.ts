import { createRequire } from 'node:module';
import type { Logger } from '../logger.js';
import { AbortedError, ZkError } from '../errors.js';
import { asOutage, readOrAbsent } from './errors.js';
import type { ZkNode, ZkSessionControl, ZkWatchReader } from './reader.js';
import { WatchRegistry, type WatchEvent } from './watch-registry.js';

const require = createRequire(import.meta.url);

interface AddonStat {
  ephemeralOwner: string | number;
  numChildren: number;
  version: number;
  mzxid: number;
  pzxid: number;
  cversion: number;
}
/** The slice of the `zookeeper` addon's promise API we use. */
interface AddonZk {
  on(event: 'connect' | 'close' | 'connecting', cb: () => void): void;
  /** A watch event: the addon passes its native handle first, then the path. */
  on(event: WatchEvent, cb: (handle: unknown, path: string) => void): void;
  init(config: Record<string, unknown>): void;
  get(path: string, watch: boolean): Promise<[AddonStat, Buffer | string | null]>;
  get_children(path: string, watch: boolean): Promise<string[]>;
  exists(path: string, watch: boolean): Promise<AddonStat | null>;
  add_auth(scheme: string, auth: string, cb: (rc: number, error: string) => void): void;
  close(): void;
  /** The C client's zoo_recv_timeout: the granted session timeout once connected; -1 once closed. */
  readonly timeout: number;
}
type AddonCtor = (new (config: Record<string, unknown>) => AddonZk) & { constants: Record<string, number> };

export interface ZkConnectOptions {
  readonly servers: readonly string[];
  readonly sessionTimeoutMs: number;
  readonly auth: string | null;
  readonly connectTimeoutMs?: number;
  /** Gives up connecting (AbortedError): SIGTERM while ZooKeeper cannot be reached. */
  readonly signal?: AbortSignal | undefined;
  readonly logger: Logger;
  readonly onConnect?: () => void;
  /** The session ended without close(): expired, or the handle gave up. Watches are gone with it. */
  readonly onSessionLost?: () => void;
  /** After the session opened: the connection dropped (false) or came back in the same session (true). */
  readonly onConnection?: (up: boolean) => void;
}

export interface ZkConnection extends ZkWatchReader, ZkSessionControl {}

const EMPTY = Buffer.alloc(0);

function toNode(stat: AddonStat, data: Buffer | string | null): ZkNode {
  return {
    data: data === null || data.length === 0 ? EMPTY : Buffer.isBuffer(data) ? data : Buffer.from(data),
    ephemeral: String(stat.ephemeralOwner) !== '0',
    numChildren: stat.numChildren,
    version: stat.version,
    mzxid: stat.mzxid,
    childList: { pzxid: stat.pzxid, cversion: stat.cversion },
  };
}

/** Reads failing for this share of a session timeout are an outage (see `read` in connectZk). */
const OUTAGE_SLACK = 0.9;

/** Opens a session; resolves once connected (and authenticated), or throws a ZkError naming the servers. */
export async function connectZk(opts: ZkConnectOptions): Promise<ZkConnection> {
  const ZooKeeper = require('zookeeper') as AddonCtor;
  const zk = new ZooKeeper({
    connect: opts.servers.join(','),
    timeout: opts.sessionTimeoutMs,
    // 0 = silent: the addon prints its own log lines on stdout, which would corrupt --output json.
    debug_level: 0,
    host_order_deterministic: false,
    // The addon closes the session after 10 partial reads of one reply (its default): a 1 MiB value
    // arrives in many more. The limit only guards against a busy loop, so make it effectively unbounded.
    response_counter_limit: 1_000_000_000,
  });
  const connectTimeoutMs = opts.connectTimeoutMs ?? Math.max(10_000, opts.sessionTimeoutMs);
  let connected = false;
  let onAbort = (): void => undefined;
  await new Promise<void>((resolve, reject) => {
    const giveUp = (err: Error): void => {
      clearTimeout(timer);
      zk.close();
      reject(err);
    };
    const timer = setTimeout(
      () => giveUp(new ZkError(-4, '/', 'connect', `cannot connect to ZooKeeper at ${opts.servers.join(',')} within ${connectTimeoutMs / 1000}s; check --zookeeper-servers`, true)),
      connectTimeoutMs,
    );
    onAbort = () => giveUp(new AbortedError('stopped while connecting to ZooKeeper'));
    zk.on('connect', () => {
      opts.onConnect?.();
      if (connected) return; // the addon emits connect again after every reconnect
      connected = true;
      clearTimeout(timer);
      resolve();
    });
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    zk.init({});
  }).finally(() => opts.signal?.removeEventListener('abort', onAbort));
  if (opts.auth) {
    await new Promise<void>((resolve, reject) => {
      zk.add_auth('digest', opts.auth as string, (rc) => {
        if (rc === 0) resolve();
        else {
          zk.close();
          reject(new ZkError(rc, '/', 'auth', `ZooKeeper digest auth failed (${rc}); check --zookeeper-auth`, false));
        }
      });
    });
  }
  opts.logger.debug({ servers: opts.servers }, 'zookeeper connected');
  let closedByUs = false;
  zk.on('close', () => {
    if (!closedByUs) opts.onSessionLost?.();
  });
  // When a read first failed for want of the server, none having answered since. The C client does not
  // always say it lost the connection (no 'connecting' when the cut is followed by silence) and times
  // each request out again and again.
  let failingSince: number | null = null;
  // The addon reconnects on its own: 'connecting' after a drop, 'connect' again once back in the session.
  zk.on('connecting', () => {
    if (!closedByUs) opts.onConnection?.(false);
  });
  zk.on('connect', () => {
    failingSince = null; // a finished handshake: the server answers again
    if (!closedByUs) opts.onConnection?.(true);
  });
  // Known once connected, which the session is from here on; the requested one after close().
  const grantedTimeoutMs = (): number => (zk.timeout > 0 ? zk.timeout : opts.sessionTimeoutMs);
  /** A read; failing after a whole session timeout of failures is an outage (see zkReadRetry). */
  const read = async <T, A>(op: string, path: string, absent: A, fn: () => Promise<T>): Promise<T | A> => {
    try {
      const value = await readOrAbsent(op, path, absent, fn);
      failingSince = null;
      return value;
    } catch (err) {
      if (!(err instanceof ZkError) || !err.retryable) throw err;
      // Timed from the first failure, not from when reads were sent: a process frozen past its session (a
      // long pause) must retry, to learn that the session expired. The C client times a silent request
      // out a little under a session timeout after the one before, hence the slack.
      const now = Date.now();
      failingSince ??= now;
      const timeouts = { grantedMs: grantedTimeoutMs(), requestedMs: opts.sessionTimeoutMs };
      throw now - failingSince >= OUTAGE_SLACK * timeouts.grantedMs ? asOutage(err, timeouts) : err;
    }
  };

  // Watches go to the session's default watcher (`watch: true`), dispatched here by path: the addon
  // never frees a per-call watch function (a leak of one closure per event). A callback is armed right
  // after its read succeeds, as ZooKeeper's client does: the addon delivers the reply before any later
  // event, and the continuation runs before the next native callback. A read that failed set no watch;
  // a get or child read of an absent node neither; an exists read always does.
  const watches = new WatchRegistry();
  for (const event of ['created', 'deleted', 'changed', 'child'] as const) zk.on(event, (_handle, path) => watches.fire(event, path));
  zk.on('close', () => watches.clear()); // expired or closed: zk2etcd_watches drops to 0 until a new session loads
  return {
    get armedWatches() {
      return watches.armed;
    },
    get: (path) => read('get', path, null, async () => toNode(...(await zk.get(path, false)))),
    children: (path) => read('children', path, null, () => zk.get_children(path, false)),
    getW: (path, cb) =>
      read('get', path, null, async () => {
        const node = toNode(...(await zk.get(path, true)));
        watches.arm('data', path, cb);
        return node;
      }),
    childrenW: (path, cb) =>
      read('children', path, null, async () => {
        const names = await zk.get_children(path, true);
        watches.arm('child', path, cb);
        return names;
      }),
    existsW: async (path, cb) => {
      const exists = await read('exists', path, false, async () => (await zk.exists(path, true)) !== null);
      watches.arm('exists', path, cb); // set on an absent node too: it fires on the node's creation
      return exists;
    },
    close: () => {
      closedByUs = true;
      zk.close();
    },
    grantedTimeoutMs,
  };
}
