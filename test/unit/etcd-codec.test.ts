import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EtcdInvalidAuthTokenError } from 'etcd3';
import type { Etcd3 } from 'etcd3';
import { int64Varint, ProtoDecodeError, varintSize, writeVarint } from '../../common/etcd/proto.js';
import { decodeRangeResponse, encodeRangeRequest, RANGE } from '../../common/etcd/range-codec.js';
import type { RangePage, RangeRequest } from '../../common/etcd/range-codec.js';
import { rawUnary } from '../../common/etcd/raw-call.js';
import { decodeReadTxn, encodeReadTxn } from '../../common/etcd/read-txn-codec.js';
import { decodeTxnResponse, encodeTxnRequest } from '../../common/etcd/txn-codec.js';
import type { TxnReply, TxnRequest } from '../../common/etcd/txn-codec.js';

/** A minimal protobuf writer for fixtures: fields as etcd's servers send them, in any order. */
function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const tag = (field: number, wire: number) => varint(BigInt((field << 3) | wire));
const int = (field: number, n: bigint | number) => Buffer.from([...tag(field, 0), ...varint(BigInt(n))]);
const bytes = (field: number, b: Buffer | string) => {
  const body = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([Buffer.from([...tag(field, 2), ...varint(BigInt(body.length))]), body]);
};
const fixed64 = (field: number) => Buffer.from([...tag(field, 1), 1, 2, 3, 4, 5, 6, 7, 8]);
const fixed32 = (field: number) => Buffer.from([...tag(field, 5), 1, 2, 3, 4]);
const msg = (...parts: Buffer[]) => Buffer.concat(parts);

/** mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6. */
const kv = (key: Buffer | string, value: Buffer | string, mod: bigint | number, extra: Buffer[] = []) =>
  bytes(2, msg(bytes(1, key), int(2, 5), int(3, mod), int(4, 1), bytes(5, value), int(6, 0), ...extra));
/** etcdserverpb.ResponseHeader: cluster_id 1, member_id 2, revision 3, raft_term 4. */
const header = (revision: bigint | number) => bytes(1, msg(int(1, 14841639068965178418n), int(2, 10276657743932975437n), int(3, revision), int(4, 2)));

function page(p: RangePage) {
  return {
    revision: p.revision,
    more: p.more,
    keys: p.keys,
    values: p.values.map((v) => v.toString('hex')),
    modRevisions: p.modRevisions,
    lastKey: p.lastKey?.toString('hex') ?? null,
    bytes: p.bytes,
  };
}

const INVALID_UTF8 = Buffer.from([0x2f, 0x6b, 0xff, 0xfe]);

describe('varints', () => {
  // Both paths of int64Varint (a double for up to 15 digits, BigInt past that) against the reference encoder.
  const values = ['0', '1', '127', '128', '300', '16384', '2147483647', '4294967296', '999999999999999', '1000000000000000', '9007199254740993', '9223372036854775807', '-1'];
  for (const v of values) {
    test(`int64 ${v}`, () => assert.deepEqual(int64Varint(v), varint(BigInt(v))));
  }
  test('an int64 of -1 takes 10 bytes (two\'s complement)', () => assert.equal(int64Varint('-1').length, 10));
  for (const n of [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 28, 2 ** 35 + 3, Number.MAX_SAFE_INTEGER]) {
    test(`length ${n}: size and bytes`, () => {
      const buf = Buffer.alloc(10);
      const end = writeVarint(buf, 0, n);
      assert.equal(end, varintSize(n));
      assert.deepEqual([...buf.subarray(0, end)], varint(BigInt(n)));
    });
  }
});

describe('encodeRangeRequest', () => {
  const cases: { name: string; req: RangeRequest; hex: string }[] = [
    { name: 'key, range end, limit and revision', req: { key: Buffer.from('a'), rangeEnd: Buffer.from('b'), limit: 10, revision: '300' }, hex: '0a0161120162180a20ac02' },
    { name: 'revision 0 and limit 0 are left out (their defaults)', req: { key: Buffer.from('/k'), rangeEnd: Buffer.from('/l'), limit: 0, revision: '0' }, hex: '0a022f6b12022f6c' },
    // etcd reads a range_end that is present, even empty, as "from key to the end of the keyspace".
    { name: 'an empty range end (one key) is left out', req: { key: Buffer.from('/k'), rangeEnd: Buffer.alloc(0), limit: 1, revision: '7' }, hex: '0a022f6b18012007' },
    {
      name: 'a 200-byte key takes a two-byte length',
      req: { key: Buffer.alloc(200, 0x61), rangeEnd: Buffer.from([0]), limit: 1, revision: '1' },
      hex: `0ac801${'61'.repeat(200)}1201001801${'2001'}`,
    },
    { name: 'a revision past 2^53 is exact', req: { key: Buffer.from('k'), rangeEnd: Buffer.from('l'), limit: 0, revision: '9007199254740993' }, hex: `0a016b12016c20${Buffer.from(varint(9007199254740993n)).toString('hex')}` },
  ];
  for (const c of cases) test(c.name, () => assert.equal(encodeRangeRequest(c.req).toString('hex'), c.hex));
});

describe('decodeRangeResponse', () => {
  const cases: { name: string; reply: Buffer; want: ReturnType<typeof page> }[] = [
    {
      name: 'an empty reply: revision from the header, no keys',
      reply: msg(header(42)),
      want: { revision: '42', more: false, keys: [], values: [], modRevisions: [], lastKey: null, bytes: 0 },
    },
    {
      name: 'keys, values and mod revisions in order; more and count',
      reply: msg(header(900), kv('/dubbo/a', 'x', 7), kv('/dubbo/b', '', 8), int(3, 1), int(4, 5)),
      want: {
        revision: '900', more: true, keys: ['/dubbo/a', '/dubbo/b'], values: ['78', ''], modRevisions: ['7', '8'],
        lastKey: Buffer.from('/dubbo/b').toString('hex'), bytes: 17,
      },
    },
    {
      name: 'a UTF-8 key decodes as UTF-8, an invalid one is null (never ours), a binary value is kept',
      reply: msg(header(3), kv('/服务/提供者', Buffer.from([0, 255, 1]), 2), kv(INVALID_UTF8, 'v', 3)),
      want: {
        revision: '3', more: false, keys: ['/服务/提供者', null], values: ['00ff01', '76'], modRevisions: ['2', '3'],
        lastKey: INVALID_UTF8.toString('hex'), bytes: Buffer.byteLength('/服务/提供者') + 3 + 4 + 1,
      },
    },
    {
      name: 'revisions past 2^53 are exact strings',
      reply: msg(header(2n ** 60n + 1n), kv('/k', 'v', 2n ** 53n + 1n)),
      want: { revision: String(2n ** 60n + 1n), more: false, keys: ['/k'], values: ['76'], modRevisions: [String(2n ** 53n + 1n)], lastKey: '2f6b', bytes: 3 },
    },
    {
      name: 'fields it does not know (any wire type) are skipped, at every level',
      reply: msg(fixed64(9), header(5), kv('/k', 'v', 4, [fixed32(10), fixed64(11), bytes(12, 'zz'), int(13, 99)]), fixed32(7)),
      want: { revision: '5', more: false, keys: ['/k'], values: ['76'], modRevisions: ['4'], lastKey: '2f6b', bytes: 3 },
    },
    {
      name: 'fields in any order: the header after the keys, more before them',
      reply: msg(int(3, 1), kv('/a', 'v', 1), header(6)),
      want: { revision: '6', more: true, keys: ['/a'], values: ['76'], modRevisions: ['1'], lastKey: '2f61', bytes: 3 },
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(page(decodeRangeResponse(c.reply)), c.want));

  test('values are copies: the reply buffer can be reused or collected', () => {
    const reply = msg(header(1), kv('/k', 'abc', 1));
    const decoded = decodeRangeResponse(reply);
    const lastKey = decoded.lastKey as Buffer;
    reply.fill(0);
    assert.equal(decoded.values[0]?.toString(), 'abc');
    assert.equal(lastKey.toString(), '/k');
  });

  const broken: { name: string; reply: Buffer; message: RegExp }[] = [
    { name: 'a truncated varint', reply: Buffer.from([0x18, 0x80]), message: /truncated varint at offset 2/ },
    { name: 'a field longer than its message', reply: Buffer.from([0x12, 0x05, 0x0a, 0x01]), message: /field of 5 bytes at offset 2 passes the end of its message \(4\)/ },
    { name: 'a key field longer than its KeyValue', reply: msg(bytes(2, Buffer.from([0x0a, 0x09, 0x61]))), message: /field of 9 bytes at offset 4 passes the end of its message \(5\)/ },
    { name: 'a truncated fixed64', reply: Buffer.from([0x49, 1, 2]), message: /truncated fixed field at offset 1/ },
    { name: 'an unknown wire type', reply: Buffer.from([0x0b]), message: /unsupported wire type 3 at offset 1/ },
    { name: 'a varint over 10 bytes', reply: Buffer.from([0x18, ...Array(10).fill(0xff), 0x01]), message: /varint longer than 10 bytes at offset 1/ },
  ];
  for (const c of broken) {
    test(`fails on ${c.name}`, () => assert.throws(() => decodeRangeResponse(c.reply), (err: unknown) => err instanceof ProtoDecodeError && c.message.test(err.message)));
  }
});

describe('encodeTxnRequest', () => {
  const a = Buffer.from('a');
  const k = Buffer.from('k');
  const long = Buffer.alloc(200, 0x61);
  const cases: { name: string; req: TxnRequest; hex: string }[] = [
    {
      name: 'create an absent key: compare create_revision 0 (sent: it is a oneof), put with its value',
      req: { compare: [{ key: a, target: 'create', revision: '0' }], success: [{ type: 'put', key: a, value: Buffer.from('v') }] },
      hex: '0a071a0161100128001208' + '12060a0161120176',
    },
    {
      name: 'delete an unchanged key: compare mod_revision 300, delete_range of the key',
      req: { compare: [{ key: k, target: 'mod', revision: '300' }], success: [{ type: 'delete', key: k }] },
      hex: '0a081a016b100230ac02' + '12051a030a016b',
    },
    { name: 'an empty value is left out (its default)', req: { compare: [], success: [{ type: 'put', key: a, value: Buffer.alloc(0) }] }, hex: '120512030a0161' },
    {
      name: 'a 200-byte key takes two-byte lengths at every level',
      req: { compare: [{ key: long, target: 'create', revision: '0' }], success: [] },
      hex: `0acf011ac801${'61'.repeat(200)}10012800`,
    },
    {
      name: 'a mod revision past 2^53 is exact',
      req: { compare: [{ key: k, target: 'mod', revision: '9007199254740993' }], success: [] },
      hex: `0a0e1a016b100230${Buffer.from(varint(9007199254740993n)).toString('hex')}`,
    },
  ];
  for (const c of cases) test(c.name, () => assert.equal(encodeTxnRequest(c.req).toString('hex'), c.hex));

  test('compares come before ops whatever their number, each op in the given order', () => {
    const keys = Array.from({ length: 128 }, (_, i) => Buffer.from(`/dubbo/${'x'.repeat(i * 9)}`));
    const req: TxnRequest = {
      compare: keys.map((key) => ({ key, target: 'create', revision: '0' })),
      success: keys.map((key, i) => (i % 2 ? { type: 'delete', key } : { type: 'put', key, value: Buffer.from(String(i)) })),
    };
    const encoded = encodeTxnRequest(req);
    const expected = Buffer.concat([
      ...keys.map((key) => encodeTxnRequest({ compare: [{ key, target: 'create', revision: '0' }], success: [] })),
      ...req.success.map((op) => encodeTxnRequest({ compare: [], success: [op] })),
    ]);
    assert.ok(encoded.equals(expected));
  });
});

describe('decodeTxnResponse', () => {
  const putResponse = bytes(3, bytes(2, header(12)));
  const cases: { name: string; reply: Buffer; want: TxnReply }[] = [
    { name: 'succeeded, with the revision from the header and the op responses skipped', reply: msg(header(55), int(2, 1), putResponse, putResponse), want: { succeeded: true, revision: '55' } },
    { name: 'a failed compare: succeeded is left out (false)', reply: msg(header(56)), want: { succeeded: false, revision: '56' } },
    { name: 'unknown fields are skipped', reply: msg(fixed32(9), int(2, 1), fixed64(10), header(57)), want: { succeeded: true, revision: '57' } },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(decodeTxnResponse(c.reply), c.want));
  test('fails on a truncated header', () => assert.throws(() => decodeTxnResponse(Buffer.from([0x0a, 0x04, 0x18])), ProtoDecodeError));
});

describe('the read transaction (getMany)', () => {
  test('encodes one request_range per key, in order: RequestOp { request_range { key } }, range_end left out (one key)', () => {
    const keys = [Buffer.from('a'), Buffer.alloc(200, 0x62), INVALID_UTF8];
    const want = Buffer.concat(keys.map((key) => bytes(2, bytes(1, bytes(1, key)))));
    assert.equal(encodeReadTxn(keys).toString('hex'), want.toString('hex'));
    assert.equal(encodeReadTxn(keys).toString('hex'), '1205' + '0a03' + '0a0161' + '12ce01' + '0acb01' + '0ac801' + '62'.repeat(200) + '1208' + '0a06' + '0a04' + INVALID_UTF8.toString('hex'));
  });
  test('decodes one page per response_range, in order; an absent key is an empty page; unknown fields are skipped', () => {
    const rangeReply = (...kvs: Buffer[]) => msg(header(70), ...kvs, int(4, kvs.length));
    const reply = msg(
      header(70),
      int(2, 1),
      bytes(3, bytes(1, rangeReply(kv('/a', 'A', 60)))),
      fixed32(9),
      bytes(3, bytes(1, rangeReply())),
      bytes(3, msg(fixed64(5), bytes(1, rangeReply(kv(INVALID_UTF8, 'bad', 61))))),
    );
    assert.deepEqual(decodeReadTxn(reply).map(page), [
      { revision: '70', more: false, keys: ['/a'], values: ['41'], modRevisions: ['60'], lastKey: Buffer.from('/a').toString('hex'), bytes: 3 },
      { revision: '70', more: false, keys: [], values: [], modRevisions: [], lastKey: null, bytes: 0 },
      { revision: '70', more: false, keys: [null], values: [Buffer.from('bad').toString('hex')], modRevisions: ['61'], lastKey: INVALID_UTF8.toString('hex'), bytes: 7 },
    ]);
  });
});

describe('rawUnary (the Range method)', () => {
  const req: RangeRequest = { key: Buffer.from('/a'), rangeEnd: Buffer.from('/b'), limit: 5, revision: '0' };
  const fallbackPage: RangePage = { revision: '1', more: false, keys: ['/from-fallback'], values: [Buffer.alloc(0)], modRevisions: ['1'], lastKey: Buffer.from('/from-fallback'), bytes: 14 };
  const fallback = async (r: RangeRequest) => {
    calls.push(r);
    return fallbackPage;
  };
  let calls: RangeRequest[] = [];

  test('without etcd3 pool internals it uses the library range for every page', async () => {
    calls = [];
    const range = rawUnary({} as Etcd3, RANGE, 1000, fallback);
    assert.equal(range.raw, false);
    assert.equal(await range.call(req), fallbackPage);
    assert.deepEqual(calls, [req]);
  });

  test('sends the encoded request on the KV client with the pool metadata and a deadline, decodes the reply', async () => {
    calls = [];
    const seen: { method: string; arg: Buffer; metadata: unknown; deadline: Date }[] = [];
    const client = {
      pool: {
        withConnection: async (service: string, fn: (conn: unknown) => Promise<unknown>) => {
          assert.equal(service, 'KV');
          return fn({
            metadata: 'token-metadata',
            client: {
              makeUnaryRequest(method: string, serialize: (b: Buffer) => Buffer, deserialize: (b: Buffer) => RangePage, arg: Buffer, metadata: unknown, options: { deadline: Date }, cb: (e: Error | null, r?: RangePage) => void) {
                seen.push({ method, arg: serialize(arg), metadata, deadline: options.deadline });
                cb(null, deserialize(msg(header(77), kv('/a/x', 'v', 70))));
              },
            },
          });
        },
      },
    } as unknown as Etcd3;
    const before = Date.now();
    const range = rawUnary(client, RANGE, 5000, fallback);
    assert.equal(range.raw, true);
    const got = await range.call(req);
    assert.deepEqual(page(got), { revision: '77', more: false, keys: ['/a/x'], values: ['76'], modRevisions: ['70'], lastKey: Buffer.from('/a/x').toString('hex'), bytes: 5 });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.method, '/etcdserverpb.KV/Range');
    assert.ok(seen[0]?.arg.equals(encodeRangeRequest(req)));
    assert.equal(seen[0]?.metadata, 'token-metadata');
    const deadline = seen[0]?.deadline.getTime() ?? 0;
    assert.ok(deadline >= before + 5000 && deadline <= Date.now() + 5000, 'deadline is now + deadlineMs');
    assert.deepEqual(calls, [], 'the library range is not used');
  });

  const failing = (err: Error) =>
    ({ pool: { withConnection: async () => Promise.reject(err) } }) as unknown as Etcd3;

  test('an expired auth token: the page goes through the library range, which renews the token', async () => {
    calls = [];
    const got = await rawUnary(failing(new EtcdInvalidAuthTokenError('etcdserver: invalid auth token')), RANGE, 1000, fallback).call(req);
    assert.equal(got, fallbackPage);
    assert.deepEqual(calls, [req]);
  });

  test('any other error is thrown as is, never read as an empty range', async () => {
    calls = [];
    const err = new Error('14 UNAVAILABLE: connection refused');
    await assert.rejects(rawUnary(failing(err), RANGE, 1000, fallback).call(req), (e) => e === err);
    assert.deepEqual(calls, []);
  });
});
