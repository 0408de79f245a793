import { JuteReader, JuteWriter } from './jute.js';

/** Opcodes (ZooDefs.OpCode); multiRead, setWatches2 and addWatch need a 3.6+ server. */
export const Op = {
  notification: 0,
  exists: 3,
  getData: 4,
  getChildren: 8,
  ping: 11,
  getChildren2: 12,
  multiRead: 22,
  auth: 100,
  setWatches2: 105,
  addWatch: 106,
  closeSession: -11,
  error: -1,
} as const;

/** Reserved xids (ClientCnxn): replies carrying them are not answers to numbered requests. */
export const Xid = { notification: -1, ping: -2, auth: -4, setWatches: -8 } as const;

export const Err = {
  ok: 0,
  connectionLoss: -4,
  marshallingError: -5,
  unimplemented: -6,
  operationTimeout: -7,
  noNode: -101,
  noAuth: -102,
  sessionExpired: -112,
  closing: -116,
} as const;

/** Watcher event types (Watcher.Event.EventType). */
export const EventType = { created: 1, deleted: 2, dataChanged: 3, childrenChanged: 4 } as const;

export const AddWatchMode = { persistent: 0, persistentRecursive: 1 } as const;

/** The Stat fields the reconcile and watcher use. */
export interface Stat {
  readonly mzxid: number;
  readonly version: number;
  /** ephemeralOwner is not 0. */
  readonly ephemeral: boolean;
  readonly dataLength: number;
  readonly numChildren: number;
  readonly cversion: number;
  readonly pzxid: number;
}

export function readStat(r: JuteReader): Stat {
  r.skip(8); // czxid
  const mzxid = r.long();
  r.skip(16); // ctime, mtime
  const version = r.int();
  const cversion = r.int();
  r.skip(4); // aversion
  const ephemeral = r.nonZeroLong(); // ephemeralOwner
  const dataLength = r.int();
  const numChildren = r.int();
  const pzxid = r.long();
  return { mzxid, version, ephemeral, dataLength, numChildren, cversion, pzxid };
}

export interface ConnectRequest {
  readonly lastZxidSeen: bigint;
  readonly timeoutMs: number;
  readonly sessionId: bigint;
  readonly passwd: Buffer;
}

export function encodeConnect(req: ConnectRequest): Buffer {
  return new JuteWriter(64)
    .int(0) // protocolVersion
    .long(req.lastZxidSeen)
    .int(req.timeoutMs)
    .long(req.sessionId)
    .buffer(req.passwd)
    .bool(false) // readOnly
    .frame();
}

export interface ConnectResponse {
  /** 0 or less: the server refused the session (it expired). */
  readonly timeoutMs: number;
  readonly sessionId: bigint;
  readonly passwd: Buffer;
}

export function decodeConnect(body: Buffer): ConnectResponse {
  const r = new JuteReader(body);
  r.int(); // protocolVersion
  const timeoutMs = r.int();
  const sessionId = r.longBig();
  const passwd = Buffer.from(r.buffer() ?? Buffer.alloc(16));
  return { timeoutMs, sessionId, passwd };
}

/** A request frame: header (xid, type) and the record's fields written by `body`. */
export function encodeRequest(xid: number, type: number, body?: (w: JuteWriter) => void, sizeHint = 64): Buffer {
  const w = new JuteWriter(sizeHint).int(xid).int(type);
  body?.(w);
  return w.frame();
}

export const pathWatch = (path: string, watch: boolean) => (w: JuteWriter) => w.string(path).bool(watch);

/** One read inside a multiRead; the server allows getData and getChildren only. `asPaths`: see BatchRead. */
export type ReadOp = { readonly kind: 'data'; readonly path: string } | { readonly kind: 'children'; readonly path: string; readonly asPaths?: boolean };

export function encodeMultiRead(ops: readonly ReadOp[]) {
  return (w: JuteWriter): void => {
    for (const op of ops) {
      w.int(op.kind === 'data' ? Op.getData : Op.getChildren).bool(false).int(-1); // MultiHeader
      w.string(op.path).bool(false);
    }
    w.int(-1).bool(true).int(-1); // the closing MultiHeader
  };
}

export type ReadResult =
  | { readonly kind: 'data'; readonly data: Buffer; readonly stat: Stat }
  | { readonly kind: 'children'; readonly children: string[] }
  | { readonly kind: 'error'; readonly code: number };

/** A multiRead reply: one result per op, in order; an op's error does not fail the others. `ops`: the request's, for `asPaths`; `sizes` gets each result's bytes on the wire. */
export function decodeMultiRead(r: JuteReader, ops: readonly ReadOp[] = [], sizes?: number[]): ReadResult[] {
  const out: ReadResult[] = [];
  for (;;) {
    const start = r.pos;
    const type = r.int();
    const done = r.bool();
    const err = r.int();
    if (done) return out;
    if (type === Op.getData) {
      const raw = r.buffer(); // a view into the reply: copied, unless empty (most registry nodes)
      const data = raw === null || raw.length === 0 ? EMPTY : Buffer.from(raw);
      out.push({ kind: 'data', data, stat: readStat(r) });
    } else if (type === Op.getChildren) {
      const op = ops[out.length];
      out.push({ kind: 'children', children: op?.kind === 'children' && op.asPaths ? r.pathsUnder(op.path) : r.strings() });
    } else if (type === Op.error) {
      out.push({ kind: 'error', code: r.int() || err });
    } else {
      throw new Error(`unexpected op type ${type} in a multiRead reply`);
    }
    sizes?.push(r.pos - start);
  }
}

export const EMPTY = Buffer.alloc(0);

export interface WatcherEvent {
  readonly type: number;
  readonly state: number;
  readonly path: string;
}

export function decodeEvent(r: JuteReader): WatcherEvent {
  return { type: r.int(), state: r.int(), path: r.string() };
}

/** Re-registers watches after a reconnect; we only ever hold persistent recursive ones. */
export function encodeSetWatches2(relativeZxid: bigint, recursive: readonly string[]) {
  return (w: JuteWriter): void => {
    w.long(relativeZxid).strings([]).strings([]).strings([]).strings([]).strings(recursive);
  };
}
