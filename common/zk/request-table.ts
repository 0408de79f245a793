import type { JuteReader } from './jute.js';

/** A reply's body and the zxid in its header: the server's last committed transaction when it answered. */
export interface Reply {
  readonly body: JuteReader;
  readonly zxid: number;
}

interface Waiting {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (err: Error) => void;
  /** A multi-op read: a reply over the size limit fails it (the caller splits) instead of the connection. */
  readonly batch: boolean;
}

interface Queued {
  readonly frame: Buffer;
  readonly xid: number;
  readonly deadline: number;
}

/**
 * The requests of one session awaiting their replies, by xid, and the frames of those made while
 * disconnected, sent on the next connect unless their deadline passed first.
 */
export class RequestTable {
  private readonly waiting = new Map<number, Waiting>();
  private readonly queued: Queued[] = [];

  add(xid: number, w: Waiting): void {
    this.waiting.set(xid, w);
  }

  /** Holds a request's frame until the connection is back, or fails it at `deadline` (see expire). */
  queue(xid: number, frame: Buffer, deadline: number): void {
    this.queued.push({ frame, xid, deadline });
  }

  /** Removes and returns the request waiting for this xid's reply. */
  take(xid: number): Waiting | undefined {
    const w = this.waiting.get(xid);
    this.waiting.delete(xid);
    return w;
  }

  isBatch(xid: number): boolean {
    return this.waiting.get(xid)?.batch ?? false;
  }

  /** The queued frames whose requests still wait, in order; the queue is emptied. */
  takeQueued(): Buffer[] {
    return this.queued.splice(0).filter((q) => this.waiting.has(q.xid)).map((q) => q.frame);
  }

  /** Fails the queued requests whose deadline has passed. */
  expire(now: number, err: () => Error): void {
    while (this.queued.length > 0 && (this.queued[0] as Queued).deadline <= now) {
      const q = this.queued.shift() as Queued;
      this.take(q.xid)?.reject(err());
    }
  }

  failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.queued.length = 0;
  }
}
