import { ProtoReader, varintSize, WIRE_BYTES, writeVarint } from './proto.js';
import type { RawMethod } from './raw-call.js';
import { decodeRangeResponse, type RangePage } from './range-codec.js';

/**
 * etcd's Txn call as a batch of single-key reads (`getMany`), in protobuf wire format: one RangeRequest
 * per key in the success branch, each reply decoded like a snapshot page. Over our own codec, like the
 * snapshot, so an error reaches us as gRPC gave it (etcd3's library call would reset every connection to
 * the host, its lease keep-alive and watches included, on a reply over the receive limit). Field numbers
 * are those of etcdserverpb.TxnRequest/RequestOp/RangeRequest and TxnResponse/ResponseOp.
 */

const bytesField = (len: number) => 1 + varintSize(len) + len;

export function encodeReadTxn(keys: readonly Buffer[]): Buffer {
  // TxnRequest.success (2) { RequestOp.request_range (1) { RangeRequest.key (1) } }
  const rangeSizes = keys.map((k) => bytesField(k.length));
  const opSizes = rangeSizes.map((n) => bytesField(n));
  const total = opSizes.reduce((sum, n) => sum + bytesField(n), 0);
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  keys.forEach((key, i) => {
    buf[pos++] = 0x12;
    pos = writeVarint(buf, pos, opSizes[i] as number);
    buf[pos++] = 0x0a;
    pos = writeVarint(buf, pos, rangeSizes[i] as number);
    buf[pos++] = 0x0a;
    pos = writeVarint(buf, pos, key.length);
    pos += key.copy(buf, pos);
  });
  if (pos !== total) throw new Error(`read txn encoder wrote ${pos} bytes of the ${total} it sized`);
  return buf;
}

/** One page per request, in request order. */
export function decodeReadTxn(buf: Buffer): RangePage[] {
  const r = new ProtoReader(buf, 0, buf.length);
  const pages: RangePage[] = [];
  while (!r.done) {
    const tag = r.uint32();
    if (tag >>> 3 === 3 && (tag & 7) === WIRE_BYTES) {
      // TxnResponse.responses (3) { ResponseOp.response_range (1) { RangeResponse } }
      const op = r.message();
      while (!op.done) {
        const t = op.uint32();
        if (t >>> 3 === 1 && (t & 7) === WIRE_BYTES) {
          const [start, end] = op.bytes();
          pages.push(decodeRangeResponse(buf.subarray(start, end)));
        } else op.skip(t & 7);
      }
    } else r.skip(tag & 7);
  }
  return pages;
}

export const READ_TXN: RawMethod<readonly Buffer[], RangePage[]> = { path: '/etcdserverpb.KV/Txn', encode: encodeReadTxn, decode: decodeReadTxn };
