import { AbortedError, ZkError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ZkProtocolConnection } from './connection.js';
import type { Reply } from './request-table.js';
import { readOrAbsent, toZkError, ZkProtocolError } from './errors.js';
import { AddWatchMode, decodeMultiRead, EMPTY, encodeMultiRead, Err, EventType, Op, pathWatch, readStat, type Stat } from './protocol.js';
import type { BatchRead, BatchResult, BatchResults, ZkNode, ZkSessionControl, ZkTreeWatchReader } from './reader.js';

export interface FastZkOptions {
  readonly servers: readonly string[];
  readonly sessionTimeoutMs: number;
  readonly auth: string | null;
  readonly connectTimeoutMs?: number;
  /** Gives up connecting (AbortedError): SIGTERM while ZooKeeper cannot be reached. */
  readonly signal?: AbortSignal | undefined;
  /** Replies to a batch larger than this are skipped and the batch is split (ZooKeeper's packet limit). */
  readonly maxBatchReplyBytes?: number;
  readonly logger: Logger;
  readonly onConnect?: () => void;
  /** The session ended without close(): expired, or auth refused on a reconnect. */
  readonly onSessionLost?: () => void;
  /** The connection dropped and came back in the same session: watch events in between are lost. */
  readonly onReconnect?: () => void;
  /** A node under a watched tree was created, changed or deleted. */
  readonly onTreeEvent?: (path: string) => void;
  /** After the session opened: the connection dropped (false) or came back in the same session (true). */
  readonly onConnection?: (up: boolean) => void;
}

export interface FastZkConnection extends ZkTreeWatchReader, ZkSessionControl {}

/** The server answered multiRead with "unimplemented" (before 3.6): use the addon path instead. */
export class FastPathUnsupportedError extends ZkError {
  constructor(servers: readonly string[]) {
    super(Err.unimplemented, '/', 'multi_read', `ZooKeeper at ${servers.join(',')} does not support multiRead (needs 3.6+); use --zookeeper-fast-path=off or auto`, false);
  }
}

export const DEFAULT_BATCH_REPLY_BYTES = 1024 * 1024;

function toNode(data: Buffer | null, stat: Stat): ZkNode {
  return {
    data: data === null || data.length === 0 ? EMPTY : data,
    ephemeral: stat.ephemeral,
    numChildren: stat.numChildren,
    version: stat.version,
    mzxid: stat.mzxid,
    childList: { pzxid: stat.pzxid, cversion: stat.cversion },
  };
}

/** The request's size when its paths are ASCII (most are): room enough that the writer rarely grows. */
function multiReadSize(ops: readonly BatchRead[]): number {
  let n = 32;
  for (const op of ops) n += 18 + op.path.length;
  return n;
}

/** Opens a session over the protocol client and checks that the server supports multiRead. */
export async function connectZkFast(opts: FastZkOptions): Promise<FastZkConnection> {
  let first = true;
  let ready = false;
  let closedByUs = false;
  let onFirst: ((ok: boolean) => void) | null = null;
  const conn = new ZkProtocolConnection({
    servers: opts.servers,
    sessionTimeoutMs: opts.sessionTimeoutMs,
    auth: opts.auth,
    maxBatchReplyBytes: opts.maxBatchReplyBytes ?? DEFAULT_BATCH_REPLY_BYTES,
    onEvent: (ev) => {
      if (ev.type >= EventType.created && ev.type <= EventType.dataChanged) opts.onTreeEvent?.(ev.path);
    },
    onState: (state) => {
      if (state === 'connected') {
        opts.onConnect?.();
        if (first) onFirst?.(true);
        else {
          opts.onConnection?.(true);
          opts.onReconnect?.();
        }
        first = false;
      } else if (state === 'disconnected') {
        if (ready && !closedByUs) opts.onConnection?.(false);
      } else if (state === 'expired' || state === 'auth_failed') {
        if (first) onFirst?.(false);
        else if (ready && !closedByUs) opts.onSessionLost?.();
      }
    },
  });
  const connectTimeoutMs = opts.connectTimeoutMs ?? Math.max(10_000, opts.sessionTimeoutMs);
  const onAbort = (): void => onFirst?.(false);
  const connected = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), connectTimeoutMs);
    onFirst = (ok) => {
      clearTimeout(timer);
      resolve(ok);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    else conn.start();
  });
  opts.signal?.removeEventListener('abort', onAbort);
  if (!connected) {
    await conn.close();
    if (opts.signal?.aborted) throw new AbortedError('stopped while connecting to ZooKeeper');
    throw new ZkError(Err.connectionLoss, '/', 'connect', `cannot connect to ZooKeeper at ${opts.servers.join(',')} within ${connectTimeoutMs / 1000}s; check --zookeeper-servers`, true);
  }
  const close = () => {
    closedByUs = true;
    void conn.close();
  };
  // One multiRead round trip: proves the capability and, replies being in order, that auth was accepted.
  try {
    await conn.request(Op.multiRead, encodeMultiRead([{ kind: 'data', path: '/' }]));
  } catch (err) {
    close();
    if (err instanceof ZkProtocolError && err.code === Err.unimplemented) throw new FastPathUnsupportedError(opts.servers);
    if (err instanceof ZkProtocolError && err.code === -115) {
      throw new ZkError(err.code, '/', 'auth', `ZooKeeper digest auth failed (${err.code}); check --zookeeper-auth`, false);
    }
    throw toZkError(err, 'multi_read', '/');
  }
  ready = true;
  opts.logger.debug({ servers: opts.servers }, 'zookeeper connected (protocol client, multiRead)');

  const get = (path: string) =>
    readOrAbsent('get', path, null, async () => {
      const r = (await conn.request(Op.getData, pathWatch(path, false))).body;
      const data = r.buffer();
      return toNode(data === null ? null : Buffer.from(data), readStat(r));
    });
  const children = (path: string) => readOrAbsent('children', path, null, async () => (await conn.request(Op.getChildren, pathWatch(path, false))).body.strings());

  return {
    batchReads: true,
    maxBatchReplyBytes: opts.maxBatchReplyBytes ?? DEFAULT_BATCH_REPLY_BYTES,
    get,
    children,
    async readMany(ops: readonly BatchRead[]): Promise<BatchResults> {
      let reply: Reply;
      try {
        reply = await conn.request(Op.multiRead, encodeMultiRead(ops), { batch: ops.length > 1, sizeHint: multiReadSize(ops) });
      } catch (err) {
        if (err instanceof ZkProtocolError) throw toZkError(err, 'multi_read', ops[0]?.path ?? '/');
        throw err; // ZkReplyTooLargeError: the caller splits the batch
      }
      const opBytes: number[] = [];
      const results: BatchResults = decodeMultiRead(reply.body, ops, opBytes).map((res, i): BatchResult => {
        if (res.kind === 'data') return toNode(res.data, res.stat);
        if (res.kind === 'children') return res.children;
        if (res.code === Err.noNode) return null;
        const op = ops[i] as BatchRead;
        return toZkError(new ZkProtocolError(res.code, `ZooKeeper error ${res.code}`), op.kind === 'data' ? 'get' : 'children', op.path);
      });
      return Object.assign(results, { zxid: reply.zxid, opBytes });
    },
    async watchTree(path: string): Promise<void> {
      await readOrAbsent('add_watch', path, null, () => conn.request(Op.addWatch, (w) => w.string(path).int(AddWatchMode.persistentRecursive)));
      conn.recursiveWatches.add(path);
    },
    close,
    grantedTimeoutMs: () => conn.grantedTimeoutMs,
  };
}
