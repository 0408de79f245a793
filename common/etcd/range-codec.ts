import { isAscii, isUtf8 } from 'node:buffer';

/**
 * etcd's Range call in protobuf wire format, for the snapshot's pages: the request written directly and
 * the reply decoded into what the snapshot keeps (key string, value, mod revision). Decoding through
 * etcd3's generic protobuf objects cost a fifth of an in-sync diff's CPU: an object per key with four
 * 64-bit integers turned into strings, two Buffer views per key, and the garbage of all of them.
 * Field numbers are those of etcdserverpb.RangeRequest/RangeResponse/KeyValue and mvccpb.KeyValue.
 */

export interface RangeRequest {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  readonly limit: number;
  /** 0: the current revision. */
  readonly revision: string;
}

export interface RangePage {
  readonly revision: string;
  readonly more: boolean;
  /** Each key as a string, or null when its bytes are not valid UTF-8 (the string would not map back). */
  readonly keys: (string | null)[];
  /** Values copied out of the reply into one buffer of the page's own, so the reply can be collected. */
  readonly values: Buffer[];
  readonly modRevisions: string[];
  /** The bytes of the page's last key (where the next page starts), or null for an empty page. */
  readonly lastKey: Buffer | null;
  /** Bytes of the page's keys and values (to size the next page). */
  readonly bytes: number;
}

export class RangeDecodeError extends Error {
  override readonly name = 'RangeDecodeError';
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
const EMPTY = Buffer.alloc(0);

function varintBytes(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export function encodeRangeRequest(req: RangeRequest): Buffer {
  const parts: Buffer[] = [
    Buffer.from([0x0a, ...varintBytes(BigInt(req.key.length))]), req.key,
    Buffer.from([0x12, ...varintBytes(BigInt(req.rangeEnd.length))]), req.rangeEnd,
  ];
  const tail: number[] = [];
  if (req.limit > 0) tail.push(0x18, ...varintBytes(BigInt(req.limit)));
  const revision = BigInt(req.revision);
  if (revision !== 0n) tail.push(0x20, ...varintBytes(revision));
  parts.push(Buffer.from(tail));
  return Buffer.concat(parts);
}

/** A cursor over one reply; `end` bounds the message being read (a nested one ends before the buffer). */
class Reader {
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
    throw new RangeDecodeError(`varint longer than 10 bytes at offset ${start}`);
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
      if (shift > 28) throw new RangeDecodeError(`length varint too long at offset ${this.pos}`);
    }
    if (n < 0) throw new RangeDecodeError(`length out of range at offset ${this.pos}`);
    return n;
  }

  /** The bounds of a length-delimited field. */
  bytes(): [number, number] {
    const len = this.uint32();
    const start = this.pos;
    if (start + len > this.end) throw new RangeDecodeError(`field of ${len} bytes at offset ${start} passes the end of its message (${this.end})`);
    this.pos += len;
    return [start, start + len];
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.int64();
    else if (wire === WIRE_BYTES) this.bytes();
    else if (wire === WIRE_FIXED64) this.advance(8);
    else if (wire === WIRE_FIXED32) this.advance(4);
    else throw new RangeDecodeError(`unsupported wire type ${wire} at offset ${this.pos}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new RangeDecodeError(`truncated fixed field at offset ${this.pos}`);
    this.pos += n;
  }

  private byte(): number {
    if (this.pos >= this.end) throw new RangeDecodeError(`truncated varint at offset ${this.pos}`);
    return this.buf[this.pos++] as number;
  }
}

function keyString(bytes: Buffer): string | null {
  // Registry keys are ASCII (URL-encoded names): latin1 makes the string with one copy, no UTF-8 decoding.
  if (isAscii(bytes)) return bytes.toString('latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : null;
}

export function decodeRangeResponse(buf: Buffer): RangePage {
  const r = new Reader(buf, 0, buf.length);
  let revision = '0';
  let more = false;
  const keys: (string | null)[] = [];
  const modRevisions: string[] = [];
  const valueBounds: number[] = [];
  let lastKey: [number, number] | null = null;
  let valueBytes = 0;
  let keyBytes = 0;
  while (!r.done) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_BYTES) {
      const [start, end] = r.bytes();
      const header = new Reader(buf, start, end);
      while (!header.done) {
        const t = header.uint32();
        if (t >>> 3 === 3 && (t & 7) === WIRE_VARINT) revision = header.int64();
        else header.skip(t & 7);
      }
    } else if (field === 2 && wire === WIRE_BYTES) {
      const [start, end] = r.bytes();
      const kv = new Reader(buf, start, end);
      let key: [number, number] = [start, start];
      let value: [number, number] = [start, start];
      let mod = '0';
      while (!kv.done) {
        const t = kv.uint32();
        const f = t >>> 3;
        const w = t & 7;
        if (f === 1 && w === WIRE_BYTES) key = kv.bytes();
        else if (f === 5 && w === WIRE_BYTES) value = kv.bytes();
        else if (f === 3 && w === WIRE_VARINT) mod = kv.int64();
        else kv.skip(w);
      }
      keys.push(keyString(buf.subarray(key[0], key[1])));
      modRevisions.push(mod);
      valueBounds.push(value[0], value[1]);
      valueBytes += value[1] - value[0];
      keyBytes += key[1] - key[0];
      lastKey = key;
    } else if (field === 3 && wire === WIRE_VARINT) {
      more = r.int64() !== '0';
    } else {
      r.skip(wire);
    }
  }
  const arena = valueBytes === 0 ? EMPTY : Buffer.allocUnsafeSlow(valueBytes);
  const values: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < valueBounds.length; i += 2) {
    const start = valueBounds[i] as number;
    const len = (valueBounds[i + 1] as number) - start;
    if (len === 0) {
      values.push(EMPTY);
      continue;
    }
    buf.copy(arena, offset, start, start + len);
    values.push(arena.subarray(offset, offset + len));
    offset += len;
  }
  return {
    revision,
    more,
    keys,
    values,
    modRevisions,
    lastKey: lastKey ? Buffer.from(buf.subarray(lastKey[0], lastKey[1])) : null,
    bytes: keyBytes + valueBytes,
  };
}
