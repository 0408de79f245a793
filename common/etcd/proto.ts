/**
 * The protobuf wire format, as much as the raw Range and Txn calls need: varints, length-delimited
 * fields, and skipping fields we do not read (so a newer server's extra fields are harmless).
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export class ProtoDecodeError extends Error {
  override readonly name = 'ProtoDecodeError';
}

/** Bytes a varint of `n` (0 <= n < 2^53) takes. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes the varint of `n` (0 <= n < 2^53) at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

const SMALL_DECIMAL = /^\d{1,15}$/;

/** The varint bytes of an int64 given as a decimal string (revisions; negative numbers take 10 bytes). */
export function int64Varint(value: string): number[] {
  const out: number[] = [];
  if (SMALL_DECIMAL.test(value)) {
    // Most revisions: exact as a double, and no BigInt per op.
    let n = Number(value);
    while (n >= 0x80) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return out;
  }
  let v = BigInt.asUintN(64, BigInt(value));
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** A cursor over one message; `end` bounds it (a nested message ends before the buffer does). */
export class ProtoReader {
  constructor(readonly buf: Buffer, public pos: number, readonly end: number) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a decimal string: int64 fields (revisions) may pass 2^53 in principle. */
  int64(): string {
    const start = this.pos;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      if (i < 7) n += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return i < 7 ? String(n) : this.bigInt64(start);
    }
    throw new ProtoDecodeError(`varint longer than 10 bytes at offset ${start}`);
  }

  private bigInt64(start: number): string {
    let v = 0n;
    let shift = 0n;
    for (let p = start; p < this.pos; p++) {
      v |= BigInt((this.buf[p] as number) & 0x7f) << shift;
      shift += 7n;
    }
    return BigInt.asIntN(64, v).toString();
  }

  /** A varint that must fit a length or a tag (under 2^31). */
  uint32(): number {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      n |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw new ProtoDecodeError(`length varint too long at offset ${this.pos}`);
    }
    if (n < 0) throw new ProtoDecodeError(`length out of range at offset ${this.pos}`);
    return n;
  }

  /** The bounds of a length-delimited field. */
  bytes(): [number, number] {
    const len = this.uint32();
    const start = this.pos;
    if (start + len > this.end) throw new ProtoDecodeError(`field of ${len} bytes at offset ${start} passes the end of its message (${this.end})`);
    this.pos += len;
    return [start, start + len];
  }

  /** A reader over the length-delimited field at the cursor (a nested message). */
  message(): ProtoReader {
    const [start, end] = this.bytes();
    return new ProtoReader(this.buf, start, end);
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.int64();
    else if (wire === WIRE_BYTES) this.bytes();
    else if (wire === WIRE_FIXED64) this.advance(8);
    else if (wire === WIRE_FIXED32) this.advance(4);
    else throw new ProtoDecodeError(`unsupported wire type ${wire} at offset ${this.pos}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new ProtoDecodeError(`truncated fixed field at offset ${this.pos}`);
    this.pos += n;
  }

  private byte(): number {
    if (this.pos >= this.end) throw new ProtoDecodeError(`truncated varint at offset ${this.pos}`);
    return this.buf[this.pos++] as number;
  }
}

/** The revision (field 3) of an etcdserverpb.ResponseHeader. */
export function headerRevision(header: ProtoReader): string {
  let revision = '0';
  while (!header.done) {
    const t = header.uint32();
    if (t >>> 3 === 3 && (t & 7) === WIRE_VARINT) revision = header.int64();
    else header.skip(t & 7);
  }
  return revision;
}
