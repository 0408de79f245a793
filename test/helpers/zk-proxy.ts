import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { servers } from './services.js';

/** Opcodes a ZooKeeper before 3.6 does not know: multiRead and addWatch. */
const PRE_36_UNKNOWN = new Set([22, 106]);

/**
 * A TCP proxy in front of a ZooKeeper server, for fault tests of the protocol client: it can cut
 * every connection, hold all traffic (a network partition: sockets stay open, nothing passes), or
 * act as a ZooKeeper before 3.6 that answers multiRead and addWatch with "unimplemented" and closes.
 */
export interface ZkProxy {
  /** host:port to give a client instead of the server's. */
  readonly address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Bytes forwarded from the server to clients so far. */
  readonly downstreamBytes: number;
  /** Requests answered with "unimplemented" so far (pre36 mode). */
  readonly refused: number;
  /** Destroys every connection (both sides) at once: a connection loss, the session survives. */
  cutAll(): void;
  /**
   * hold(true): nothing passes in either direction and no close is passed on; new connections are
   * accepted and held too. hold(false): held connections whose peer went away meanwhile are closed,
   * the others get their queued bytes, in order.
   */
  hold(on: boolean): void;
  /** Connections accepted from now on answer opcode 22 (multiRead) or 106 (addWatch) like a 3.5 server: error -6, then close. */
  pre36(on: boolean): void;
  /** Called for every chunk forwarded from the server, with the running total. */
  onDownstream(cb: ((total: number) => void) | null): void;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Queued while held: [toUpstream, chunk]. */
  readonly held: [boolean, Buffer][];
  /** A side closed while held. */
  gone: boolean;
  /** Client-to-server bytes not yet framed (pre36 mode parses the request stream). */
  rx: Buffer;
  /** The ConnectRequest (no header) has been passed. */
  handshaken: boolean;
  /** Accepted in pre36 mode: the request stream is parsed from its start. */
  readonly pre36: boolean;
}

export async function zkProxy(target: string = servers.zk): Promise<ZkProxy> {
  const sep = target.lastIndexOf(':');
  const host = target.slice(0, sep);
  const port = Number(target.slice(sep + 1));
  const pairs = new Set<Pair>();
  let accepted = 0;
  let downstreamBytes = 0;
  let refused = 0;
  let holding = false;
  let refuse = false;
  let onDown: ((total: number) => void) | null = null;

  const destroy = (p: Pair): void => {
    p.client.destroy();
    p.upstream.destroy();
    pairs.delete(p);
  };

  /** Client-to-server bytes in pre36 mode: frames are passed whole; an unknown opcode is answered here. */
  const filterUp = (p: Pair, chunk: Buffer): void => {
    p.rx = p.rx.length === 0 ? chunk : Buffer.concat([p.rx, chunk]);
    while (p.rx.length >= 4) {
      const len = p.rx.readInt32BE(0);
      if (p.rx.length < 4 + len) return;
      const frame = p.rx.subarray(0, 4 + len);
      p.rx = p.rx.subarray(4 + len);
      if (!p.handshaken) {
        p.handshaken = true; // ConnectRequest: no request header
      } else if (len >= 8 && PRE_36_UNKNOWN.has(frame.readInt32BE(8))) {
        // UnimplementedRequestProcessor: ReplyHeader {xid, zxid, err = -6}, then the session's connection closes.
        refused++;
        const reply = Buffer.alloc(4 + 16);
        reply.writeInt32BE(16, 0);
        reply.writeInt32BE(frame.readInt32BE(4), 4);
        reply.writeBigInt64BE(0n, 8);
        reply.writeInt32BE(-6, 16);
        p.client.end(reply);
        p.upstream.destroy();
        pairs.delete(p);
        return;
      }
      p.upstream.write(frame);
    }
  };

  const forward = (p: Pair, toUpstream: boolean, chunk: Buffer): void => {
    if (toUpstream) {
      if (p.pre36) filterUp(p, chunk);
      else p.upstream.write(chunk);
    } else {
      downstreamBytes += chunk.length;
      p.client.write(chunk);
      onDown?.(downstreamBytes);
    }
  };

  const server: Server = createServer((client) => {
    accepted++;
    client.setNoDelay(true);
    const upstream = connect({ host, port });
    upstream.setNoDelay(true);
    const p: Pair = { client, upstream, held: [], gone: false, rx: Buffer.alloc(0), handshaken: false, pre36: refuse };
    pairs.add(p);
    const onData = (toUpstream: boolean) => (chunk: Buffer) => {
      if (!pairs.has(p)) return;
      if (holding) p.held.push([toUpstream, chunk]);
      else forward(p, toUpstream, chunk);
    };
    client.on('data', onData(true));
    upstream.on('data', onData(false));
    const onClose = () => {
      if (!pairs.has(p)) return;
      if (holding) p.gone = true;
      else destroy(p);
    };
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.on('close', onClose);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('proxy: no port');

  return {
    address: `127.0.0.1:${addr.port}`,
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    get downstreamBytes() {
      return downstreamBytes;
    },
    get refused() {
      return refused;
    },
    cutAll() {
      for (const p of [...pairs]) destroy(p);
    },
    hold(on) {
      holding = on;
      if (on) return;
      for (const p of [...pairs]) {
        if (p.gone) {
          destroy(p);
          continue;
        }
        for (const [toUpstream, chunk] of p.held.splice(0)) if (pairs.has(p)) forward(p, toUpstream, chunk);
      }
    },
    pre36(on) {
      refuse = on;
    },
    onDownstream(cb) {
      onDown = cb;
    },
    close() {
      for (const p of [...pairs]) destroy(p);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
