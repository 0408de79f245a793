import { headerRevision, int64Varint, ProtoReader, varintSize, WIRE_BYTES, WIRE_VARINT, writeVarint } from './proto.js';
import type { RawMethod } from './raw-call.js';

/**
 * etcd's Txn call in protobuf wire format, for the writer's conditional transactions: every op guarded by
 * a compare on its own key (and the fence), nothing in the failure branch. The request is sized first and
 * written into one buffer, each key and value copied once. Field numbers are those of
 * etcdserverpb.TxnRequest/Compare/RequestOp/PutRequest/DeleteRangeRequest/TxnResponse.
 */

/** `key`'s create revision (0: absent) or mod revision equals `revision`. */
export interface TxnCompare {
  readonly key: Buffer;
  readonly target: 'create' | 'mod';
  readonly revision: string;
}

export type TxnRequestOp = { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer } | { readonly type: 'delete'; readonly key: Buffer };

export interface TxnRequest {
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnRequestOp[];
}

export interface TxnReply {
  readonly succeeded: boolean;
  readonly revision: string;
}

const TARGET = { create: 1, mod: 2 } as const;
/** Compare.create_revision is field 5, Compare.mod_revision field 6 (both varint). */
const REVISION_TAG = { create: 0x28, mod: 0x30 } as const;

const bytesField = (len: number) => 1 + varintSize(len) + len;

export function encodeTxnRequest(req: TxnRequest): Buffer {
  const revisions = req.compare.map((c) => int64Varint(c.revision));
  const compareSizes = req.compare.map((c, i) => bytesField(c.key.length) + 2 + 1 + (revisions[i] as number[]).length);
  // RequestOp { request_put (2) | request_delete_range (3) { key (1), value (2) } }
  const innerSizes = req.success.map((op) => bytesField(op.key.length) + (op.type === 'put' && op.value.length > 0 ? bytesField(op.value.length) : 0));
  const opSizes = innerSizes.map((n) => bytesField(n));
  let total = 0;
  for (const n of compareSizes) total += bytesField(n);
  for (const n of opSizes) total += bytesField(n);

  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  req.compare.forEach((c, i) => {
    buf[pos++] = 0x0a; // TxnRequest.compare (1)
    pos = writeVarint(buf, pos, compareSizes[i] as number);
    buf[pos++] = 0x1a; // Compare.key (3); result EQUAL is the default and is left out
    pos = writeVarint(buf, pos, c.key.length);
    pos += c.key.copy(buf, pos);
    buf[pos++] = 0x10; // Compare.target (2)
    buf[pos++] = TARGET[c.target];
    buf[pos++] = REVISION_TAG[c.target];
    for (const b of revisions[i] as number[]) buf[pos++] = b;
  });
  req.success.forEach((op, i) => {
    buf[pos++] = 0x12; // TxnRequest.success (2)
    pos = writeVarint(buf, pos, opSizes[i] as number);
    buf[pos++] = op.type === 'put' ? 0x12 : 0x1a;
    pos = writeVarint(buf, pos, innerSizes[i] as number);
    buf[pos++] = 0x0a; // key (1)
    pos = writeVarint(buf, pos, op.key.length);
    pos += op.key.copy(buf, pos);
    if (op.type === 'put' && op.value.length > 0) {
      buf[pos++] = 0x12; // PutRequest.value (2)
      pos = writeVarint(buf, pos, op.value.length);
      pos += op.value.copy(buf, pos);
    }
  });
  if (pos !== total) throw new Error(`txn encoder wrote ${pos} bytes of the ${total} it sized`);
  return buf;
}

export function decodeTxnResponse(buf: Buffer): TxnReply {
  const r = new ProtoReader(buf, 0, buf.length);
  let succeeded = false;
  let revision = '0';
  while (!r.done) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === WIRE_BYTES) revision = headerRevision(r.message());
    else if (tag >>> 3 === 2 && (tag & 7) === WIRE_VARINT) succeeded = r.int64() !== '0';
    else r.skip(tag & 7);
  }
  return { succeeded, revision };
}

export const TXN: RawMethod<TxnRequest, TxnReply> = { path: '/etcdserverpb.KV/Txn', encode: encodeTxnRequest, decode: decodeTxnResponse };
