import { isAscii, isUtf8 } from 'node:buffer';
import { headerRevision, int64Varint, ProtoReader, varintSize, WIRE_BYTES, WIRE_VARINT, writeVarint } from './proto.js';
import type { RawMethod } from './raw-call.js';

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

const EMPTY = Buffer.alloc(0);

export function encodeRangeRequest(req: RangeRequest): Buffer {
  // key (1) and range_end (2) as bytes; limit (3) and revision (4) left out at their default of 0. An empty
  // range_end must be left out too: etcd (3.4) reads one that is sent, even empty, as "from key to the end".
  const revision = req.revision !== '0' ? [0x20, ...int64Varint(req.revision)] : [];
  const limitBytes = req.limit > 0 ? 1 + varintSize(req.limit) : 0;
  const fields = req.rangeEnd.length > 0 ? ([[0x0a, req.key], [0x12, req.rangeEnd]] as const) : ([[0x0a, req.key]] as const);
  let size = limitBytes + revision.length;
  for (const [, bytes] of fields) size += 1 + varintSize(bytes.length) + bytes.length;
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const [tag, bytes] of fields) {
    buf[pos++] = tag;
    pos = writeVarint(buf, pos, bytes.length);
    pos += bytes.copy(buf, pos);
  }
  if (limitBytes > 0) {
    buf[pos++] = 0x18;
    pos = writeVarint(buf, pos, req.limit);
  }
  for (const b of revision) buf[pos++] = b;
  return buf;
}

function keyString(bytes: Buffer): string | null {
  // Registry keys are ASCII (URL-encoded names): latin1 makes the string with one copy, no UTF-8 decoding.
  if (isAscii(bytes)) return bytes.toString('latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : null;
}

export function decodeRangeResponse(buf: Buffer): RangePage {
  const r = new ProtoReader(buf, 0, buf.length);
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
      revision = headerRevision(r.message());
    } else if (field === 2 && wire === WIRE_BYTES) {
      const kv = r.message();
      let key: [number, number] = [kv.pos, kv.pos];
      let value: [number, number] = [kv.pos, kv.pos];
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

export const RANGE: RawMethod<RangeRequest, RangePage> = { path: '/etcdserverpb.KV/Range', encode: encodeRangeRequest, decode: decodeRangeResponse };
