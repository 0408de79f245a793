/**
 * Jute, ZooKeeper's wire encoding: big-endian ints and longs, length-prefixed buffers and strings
 * (length -1 means null), vectors as a count followed by their items.
 */
export class JuteWriter {
  private buf: Buffer;
  // The first 4 bytes are kept for the frame's length, so frame() needs no copy.
  private pos = 4;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial + 4);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int(v: number): this {
    this.room(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  long(v: bigint): this {
    this.room(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bool(v: boolean): this {
    this.room(1);
    this.buf[this.pos++] = v ? 1 : 0;
    return this;
  }

  buffer(v: Buffer | null): this {
    if (v === null) return this.int(-1);
    this.int(v.length);
    this.room(v.length);
    v.copy(this.buf, this.pos);
    this.pos += v.length;
    return this;
  }

  string(v: string): this {
    const n = Buffer.byteLength(v);
    this.int(n);
    this.room(n);
    this.buf.write(v, this.pos, 'utf8');
    this.pos += n;
    return this;
  }

  strings(v: readonly string[]): this {
    this.int(v.length);
    for (const s of v) this.string(s);
    return this;
  }

  /** The bytes written, prefixed with their length: one frame on the wire. */
  frame(): Buffer {
    this.buf.writeInt32BE(this.pos - 4, 0);
    return this.buf.subarray(0, this.pos);
  }
}

// One scratch buffer for `pathsUnder`, which is synchronous: a buffer per child list came from Node's
// 8 KB pool, and a walk reads thousands of lists (a new pool every few lists, and work for the GC).
let scratchBuf = Buffer.allocUnsafe(4096);
function pathScratch(bytes: number): Buffer {
  if (scratchBuf.length < bytes) scratchBuf = Buffer.allocUnsafe(Math.max(bytes, scratchBuf.length * 2));
  return scratchBuf;
}

/** Thrown when a reply is shorter than its layout: the stream is out of step and must be dropped. */
export class JuteDecodeError extends Error {}

export class JuteReader {
  pos = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new JuteDecodeError(`reply truncated: need ${n} bytes at ${this.pos} of ${this.buf.length}`);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /**
   * Longs as numbers: zxids and times stay far below 2^53 in practice; session ids use longBig. Read as two
   * 32-bit halves (no BigInt per field: a walk reads three longs per node); one rounding, as Number(bigint).
   */
  long(): number {
    this.need(8);
    const v = this.buf.readInt32BE(this.pos) * 0x1_0000_0000 + this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return v;
  }

  /** True when the next long is not zero (a node's ephemeral owner). */
  nonZeroLong(): boolean {
    this.need(8);
    const v = this.buf.readInt32BE(this.pos) !== 0 || this.buf.readInt32BE(this.pos + 4) !== 0;
    this.pos += 8;
    return v;
  }

  longBig(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bool(): boolean {
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }

  /** A view into the reply (no copy); callers copy what they keep beyond the reply's life. */
  buffer(): Buffer | null {
    const n = this.int();
    if (n < 0) return null;
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  string(): string {
    const n = this.int();
    if (n < 0) return '';
    this.need(n);
    const v = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /**
   * A vector of child names, each returned as the child's path (`childPath(parent, name)`): one string per
   * child, decoded from the name's bytes after the parent's, where a name string and then the joined
   * path string would be two (a walk reads ~1 KB names by the 100,000).
   */
  pathsUnder(parent: string): string[] {
    const n = this.int();
    const out: string[] = [];
    if (n <= 0) return out;
    const prefix = parent === '/' ? '/' : `${parent}/`;
    const prefixBytes = Buffer.byteLength(prefix);
    let scratch = pathScratch(prefixBytes + 1024);
    scratch.write(prefix, 0, 'utf8');
    for (let i = 0; i < n; i++) {
      const len = Math.max(0, this.int()); // a null name reads as '' (as `string()` does)
      this.need(len);
      if (prefixBytes + len > scratch.length) {
        scratch = pathScratch(prefixBytes + len);
        scratch.write(prefix, 0, 'utf8');
      }
      this.buf.copy(scratch, prefixBytes, this.pos, this.pos + len);
      out.push(scratch.toString('utf8', 0, prefixBytes + len));
      this.pos += len;
    }
    return out;
  }

  strings(): string[] {
    const n = this.int();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.string());
    return out;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}
