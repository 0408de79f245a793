import { connect as tcpConnect, type Socket } from 'node:net';
import { outageMessage, ZkProtocolError } from './errors.js';
import { FrameReader } from './frame-reader.js';
import { JuteReader, type JuteWriter } from './jute.js';
import { RequestTable, type Reply } from './request-table.js';
import { decodeConnect, decodeEvent, encodeConnect, encodeRequest, encodeSetWatches2, Err, Op, Xid, type WatcherEvent } from './protocol.js';

/** A multi-op reply was larger than `maxBatchReplyBytes`: it was skipped; the caller splits the batch. */
export class ZkReplyTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(`reply of ${bytes} bytes exceeds the batch reply limit`);
  }
}

export type ConnectionState = 'connected' | 'disconnected' | 'expired' | 'auth_failed';

export interface ConnectionOptions {
  readonly servers: readonly string[];
  readonly sessionTimeoutMs: number;
  /** Digest auth, user:password, sent on every (re)connect before anything else. */
  readonly auth: string | null;
  /** Replies to requests marked `batch` larger than this are skipped and fail with ZkReplyTooLargeError. */
  readonly maxBatchReplyBytes: number;
  readonly onEvent: (event: WatcherEvent) => void;
  readonly onState: (state: ConnectionState) => void;
}

/** Any single reply beyond this is not ZooKeeper talking: drop the connection. */
const HARD_REPLY_LIMIT = 512 * 1024 * 1024;

/**
 * One ZooKeeper session over the binary protocol: handshake, auth, pings, replies matched by xid,
 * reconnect to the next server within the session (re-sending auth and re-registering persistent
 * recursive watches), expiry. Requests made while reconnecting wait up to the session timeout.
 */
export class ZkProtocolConnection {
  private socket: Socket | null = null;
  private state: 'connecting' | 'connected' | 'closed' = 'connecting';
  private sessionId = 0n;
  private passwd: Buffer = Buffer.alloc(16);
  private lastZxid = 0n;
  private timeoutMs: number;
  private xid = 1;
  private serverIndex: number;
  private readonly requests = new RequestTable();
  private readonly rx = new FrameReader();
  private skipBytes = 0;
  private handshaking = false;
  private lastRecv = 0;
  private lastSend = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly recursiveWatches = new Set<string>();

  constructor(private readonly opts: ConnectionOptions) {
    this.timeoutMs = opts.sessionTimeoutMs;
    this.serverIndex = Math.floor(Math.random() * opts.servers.length);
  }

  /** The session timeout the server granted (the requested one until the first handshake). */
  get grantedTimeoutMs(): number {
    return this.timeoutMs;
  }

  /** Connects (the first time, or after a drop); resolves once a session is established. */
  start(): void {
    void this.dial();
  }

  /** Sends a request; resolves with a reader over the reply body and the reply's zxid. */
  request(type: number, body?: (w: JuteWriter) => void, opts: { batch?: boolean; sizeHint?: number } = {}): Promise<Reply> {
    if (this.state === 'closed') return Promise.reject(new ZkProtocolError(Err.closing, 'the ZooKeeper session is closed'));
    const xid = this.xid++;
    if (this.xid > 0x7ffffff0) this.xid = 1;
    const frame = encodeRequest(xid, type, body, opts.sizeHint);
    return new Promise((resolve, reject) => {
      this.requests.add(xid, { resolve, reject, batch: opts.batch ?? false });
      if (this.state === 'connected') this.send(frame);
      else this.requests.queue(xid, frame, Date.now() + this.timeoutMs); // past the granted timeout the session is gone
    });
  }

  /** Ends the session on the server (so ephemeral state and watches go at once) and the socket. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'connected') {
      const bye = this.request(Op.closeSession).catch(() => undefined);
      await Promise.race([bye, new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    this.shutdown(new ZkProtocolError(Err.closing, 'the ZooKeeper session is closed'));
  }

  private shutdown(err: ZkProtocolError): void {
    this.state = 'closed';
    this.stopTimer();
    this.socket?.destroy();
    this.socket = null;
    this.requests.failAll(err);
  }

  private send(frame: Buffer): void {
    this.lastSend = Date.now();
    this.socket?.write(frame);
  }

  private outage(): ZkProtocolError {
    return new ZkProtocolError(Err.connectionLoss, outageMessage({ grantedMs: this.timeoutMs, requestedMs: this.opts.sessionTimeoutMs }), true);
  }

  /** Tries the servers in turn until one grants (or refuses) the session. */
  private async dial(): Promise<void> {
    let round = 0;
    // Requests made while reconnecting wait at most the session timeout.
    const sweep = setInterval(() => this.requests.expire(Date.now(), () => this.outage()), 250);
    try {
      while (this.state === 'connecting') {
        const server = this.opts.servers[this.serverIndex % this.opts.servers.length] as string;
        this.serverIndex++;
        const ok = await this.attempt(server);
        if (ok || this.state !== 'connecting') return;
        if (this.serverIndex % this.opts.servers.length === 0) round++;
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** Math.min(round, 5))).unref());
      }
    } finally {
      clearInterval(sweep);
    }
  }

  /** One TCP connection and handshake; false when it failed before the session was granted. */
  private attempt(server: string): Promise<boolean> {
    const sep = server.lastIndexOf(':');
    const host = sep > 0 ? server.slice(0, sep).replace(/^\[|\]$/g, '') : server;
    const port = sep > 0 ? Number(server.slice(sep + 1)) : 2181;
    const connectTimeout = Math.max(1000, Math.floor(this.opts.sessionTimeoutMs / this.opts.servers.length));
    return new Promise((resolve) => {
      let settled = false;
      const settle = (ok: boolean) => {
        if (!settled) {
          settled = true;
          resolve(ok);
        }
      };
      let socket: Socket;
      try {
        socket = tcpConnect({ host, port });
      } catch {
        settle(false); // e.g. a port out of range (the config loader refuses those): counts as a failed attempt
        return;
      }
      socket.setNoDelay(true);
      const giveUp = setTimeout(() => socket.destroy(), connectTimeout);
      this.socket = socket;
      this.rx.clear();
      this.skipBytes = 0;
      this.handshaking = true;
      socket.on('connect', () => {
        socket.write(encodeConnect({ lastZxidSeen: this.lastZxid, timeoutMs: this.opts.sessionTimeoutMs, sessionId: this.sessionId, passwd: this.passwd }));
      });
      socket.on('data', (chunk: Buffer) => {
        if (this.socket !== socket) return;
        this.lastRecv = Date.now();
        this.rx.push(chunk);
        try {
          this.drain(() => {
            clearTimeout(giveUp);
            settle(true);
          });
        } catch {
          socket.destroy(); // out of step with the server: start over on a new connection
        }
      });
      socket.on('error', () => undefined); // 'close' follows and handles it
      socket.on('close', () => {
        clearTimeout(giveUp);
        settle(false);
        if (this.socket !== socket) return;
        this.socket = null;
        if (this.state === 'connected') this.dropped();
      });
    });
  }

  private dropped(): void {
    this.state = 'connecting';
    this.stopTimer();
    // Sent requests may or may not have run; their callers decide (reads are simply retried).
    // (Nothing is queued while connected: the queue is flushed on connect.)
    this.requests.failAll(new ZkProtocolError(Err.connectionLoss, 'connection to ZooKeeper lost'));
    this.opts.onState('disconnected');
    void this.dial();
  }

  /** Consumes whole frames from the receive buffer. */
  private drain(onSession: () => void): void {
    for (;;) {
      if (this.skipBytes > 0) {
        this.skipBytes -= this.rx.drop(this.skipBytes);
        if (this.skipBytes > 0) return;
      }
      const head = this.rx.peek(0, 4);
      if (head === null) return;
      const len = head.readInt32BE(0);
      if (len < 0 || len > HARD_REPLY_LIMIT) throw new Error(`bad frame length ${len}`);
      if (!this.handshaking && len > this.opts.maxBatchReplyBytes) {
        const xidBytes = this.rx.peek(4, 4);
        if (xidBytes === null) return;
        const xid = xidBytes.readInt32BE(0);
        if (this.requests.isBatch(xid)) {
          this.requests.take(xid)?.reject(new ZkReplyTooLargeError(len));
          this.skipBytes = 4 + len;
          continue;
        }
      }
      if (this.rx.available < 4 + len) return;
      this.rx.drop(4);
      const frame = this.rx.take(len);
      if (this.handshaking) this.onConnectReply(frame, onSession);
      else this.onReply(frame);
      if (this.state === 'closed') return;
    }
  }

  private onConnectReply(frame: Buffer, onSession: () => void): void {
    this.handshaking = false;
    const res = decodeConnect(frame);
    if (res.timeoutMs <= 0) {
      this.shutdown(new ZkProtocolError(Err.sessionExpired, 'the ZooKeeper session expired'));
      this.opts.onState('expired');
      return;
    }
    const resumed = this.sessionId !== 0n;
    this.sessionId = res.sessionId;
    this.passwd = res.passwd;
    this.timeoutMs = res.timeoutMs;
    this.state = 'connected';
    onSession();
    if (this.opts.auth !== null) {
      const auth = this.opts.auth;
      this.sendSpecial(Xid.auth, Op.auth, (w) => w.int(0).string('digest').buffer(Buffer.from(auth)));
    }
    if (resumed && this.recursiveWatches.size > 0) {
      this.sendSpecial(Xid.setWatches, Op.setWatches2, encodeSetWatches2(this.lastZxid, [...this.recursiveWatches]));
    }
    for (const frame of this.requests.takeQueued()) this.send(frame);
    this.startTimer();
    this.opts.onState('connected');
  }

  private sendSpecial(xid: number, type: number, body: (w: JuteWriter) => void): void {
    this.send(encodeRequest(xid, type, body));
  }

  private onReply(frame: Buffer): void {
    const r = new JuteReader(frame);
    const xid = r.int();
    const zxid = r.longBig();
    const err = r.int();
    if (zxid > this.lastZxid) this.lastZxid = zxid;
    if (xid === Xid.notification) {
      this.opts.onEvent(decodeEvent(r));
      return;
    }
    if (xid === Xid.ping || xid === Xid.setWatches) return;
    if (xid === Xid.auth) {
      if (err !== 0) {
        // The server closes the connection after a failed auth; nothing will work with these credentials.
        this.shutdown(new ZkProtocolError(err, 'ZooKeeper digest auth failed'));
        this.opts.onState('auth_failed');
      }
      return;
    }
    const p = this.requests.take(xid);
    if (!p) return;
    if (err !== 0) p.reject(new ZkProtocolError(err, `ZooKeeper error ${err}`));
    else p.resolve({ body: r, zxid: Number(zxid) });
  }

  /** Pings when idle; a silent server (nothing for two thirds of the timeout) means reconnect. */
  private startTimer(): void {
    this.stopTimer();
    const tick = Math.max(100, Math.floor(this.timeoutMs / 6));
    this.timer = setInterval(() => {
      const now = Date.now();
      if (this.state !== 'connected') return;
      if (now - this.lastRecv > (this.timeoutMs * 2) / 3) {
        this.socket?.destroy();
        return;
      }
      if (now - this.lastSend >= this.timeoutMs / 3) this.sendSpecial(Xid.ping, Op.ping, () => undefined);
    }, tick);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
