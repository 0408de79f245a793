import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toZkError, zkCodeOf, ZkProtocolError } from '../../common/zk/errors.js';
import { FrameReader } from '../../common/zk/frame-reader.js';
import { JuteDecodeError, JuteReader, JuteWriter } from '../../common/zk/jute.js';
import { childPath } from '../../common/paths.js';
import { decodeConnect, decodeMultiRead, encodeConnect, encodeMultiRead, encodeRequest, Op, readStat } from '../../common/zk/protocol.js';

/** The body of a frame (without its 4-byte length). */
const body = (frame: Buffer): Buffer => {
  assert.equal(frame.readInt32BE(0), frame.length - 4, 'length prefix');
  return frame.subarray(4);
};

const STAT = { czxid: 1n, mzxid: 0x1_0000_0002n, ctime: 3n, mtime: 4n, version: 5, cversion: 6, aversion: 7, ephemeralOwner: 0x72n, dataLength: 9, numChildren: 10, pzxid: 0x2_0000_000bn };
const writeStat = (w: JuteWriter, s = STAT): JuteWriter =>
  w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime).int(s.version).int(s.cversion).int(s.aversion).long(s.ephemeralOwner).int(s.dataLength).int(s.numChildren).long(s.pzxid);

describe('jute encoding', () => {
  const cases: { name: string; write: (w: JuteWriter) => void; read: (r: JuteReader) => unknown; expected: unknown }[] = [
    { name: 'negative int', write: (w) => w.int(-101), read: (r) => r.int(), expected: -101 },
    { name: 'long above 2^32', write: (w) => w.long(0x1_2345_6789n), read: (r) => r.long(), expected: 0x1_2345_6789 },
    { name: 'negative long', write: (w) => w.long(-2n), read: (r) => r.long(), expected: -2 },
    { name: 'long above 2^53 rounds as Number(bigint) does', write: (w) => w.long(0x7fff_ffff_ffff_ffffn), read: (r) => r.long(), expected: Number(0x7fff_ffff_ffff_ffffn) },
    { name: 'long with only the low word set is not zero', write: (w) => w.long(1n).long(0x1_0000_0000n).long(0n), read: (r) => [r.nonZeroLong(), r.nonZeroLong(), r.nonZeroLong()], expected: [true, true, false] },
    { name: 'session id as bigint', write: (w) => w.long(-2n), read: (r) => r.longBig(), expected: -2n },
    { name: 'bool', write: (w) => w.bool(true).bool(false), read: (r) => [r.bool(), r.bool()], expected: [true, false] },
    { name: 'null buffer', write: (w) => w.buffer(null), read: (r) => r.buffer(), expected: null },
    { name: 'binary buffer with NUL and invalid UTF-8', write: (w) => w.buffer(Buffer.from([0, 0xff, 0xfe, 1])), read: (r) => [...(r.buffer() as Buffer)], expected: [0, 0xff, 0xfe, 1] },
    { name: 'unicode string', write: (w) => w.string('/a/提供者 %2F'), read: (r) => r.string(), expected: '/a/提供者 %2F' },
    { name: 'string vector', write: (w) => w.strings(['x', '', 'ü']), read: (r) => r.strings(), expected: ['x', '', 'ü'] },
    { name: 'grows past the initial size', write: (w) => w.string('p'.repeat(5000)), read: (r) => r.string().length, expected: 5000 },
    { name: 'keeps earlier fields when it grows', write: (w) => w.int(7).string('q'.repeat(300)).int(9), read: (r) => [r.int(), r.string().length, r.int()], expected: [7, 300, 9] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const w = new JuteWriter(8);
      c.write(w);
      const r = new JuteReader(body(w.frame()));
      assert.deepEqual(c.read(r), c.expected);
      assert.equal(r.remaining, 0);
    });
  }

  test('a truncated reply is a decode error, not a short value', () => {
    const b = body(new JuteWriter().buffer(Buffer.from('abcdef')).frame()).subarray(0, 7);
    assert.throws(() => new JuteReader(b).buffer(), JuteDecodeError);
  });
});

describe('protocol records', () => {
  test('Stat: the fields we use come from their offsets', () => {
    const s = readStat(new JuteReader(body(writeStat(new JuteWriter()).frame())));
    assert.deepEqual(s, { mzxid: 0x1_0000_0002, version: 5, ephemeral: true, dataLength: 9, numChildren: 10, cversion: 6, pzxid: 0x2_0000_000b });
    const persistent = readStat(new JuteReader(body(writeStat(new JuteWriter(), { ...STAT, ephemeralOwner: 0n }).frame())));
    assert.equal(persistent.ephemeral, false);
  });

  test('ConnectRequest layout and ConnectResponse', () => {
    const b = body(encodeConnect({ lastZxidSeen: 7n, timeoutMs: 30000, sessionId: 9n, passwd: Buffer.alloc(16, 1) }));
    const r = new JuteReader(b);
    assert.deepEqual([r.int(), r.long(), r.int(), r.long(), r.buffer()?.length, r.bool(), r.remaining], [0, 7, 30000, 9, 16, false, 0]);
    const res = decodeConnect(body(new JuteWriter().int(0).int(4000).long(0x1234n).buffer(Buffer.alloc(16, 2)).bool(false).frame()));
    assert.deepEqual([res.timeoutMs, res.sessionId, res.passwd.length], [4000, 0x1234n, 16]);
  });

  test('multiRead request: a header per op, then the closing header', () => {
    const r = new JuteReader(body(encodeRequest(5, Op.multiRead, encodeMultiRead([{ kind: 'data', path: '/a' }, { kind: 'children', path: '/b' }]))));
    assert.deepEqual([r.int(), r.int()], [5, Op.multiRead]);
    assert.deepEqual([r.int(), r.bool(), r.int(), r.string(), r.bool()], [Op.getData, false, -1, '/a', false]);
    assert.deepEqual([r.int(), r.bool(), r.int(), r.string(), r.bool()], [Op.getChildren, false, -1, '/b', false]);
    assert.deepEqual([r.int(), r.bool(), r.int(), r.remaining], [-1, true, -1, 0]);
  });

  test('multiRead reply: data, children and a per-op error, in order', () => {
    const w = new JuteWriter();
    w.int(Op.getData).bool(false).int(0).buffer(Buffer.from([0, 1]));
    writeStat(w);
    w.int(Op.getChildren).bool(false).int(0).strings(['c1', 'c2']);
    w.int(Op.error).bool(false).int(-101).int(-101);
    w.int(Op.getData).bool(false).int(0).buffer(null);
    writeStat(w);
    w.int(-1).bool(true).int(-1);
    const reply = body(w.frame());
    const sizes: number[] = [];
    const res = decodeMultiRead(new JuteReader(reply), [], sizes);
    assert.equal(res.length, 4);
    // Each result's bytes: its 9-byte header; data 4 + 2 + a 68-byte stat; two names of 4 + 2; the error's code; null data.
    assert.deepEqual(sizes, [9 + 6 + 68, 9 + 4 + 2 * 6, 9 + 4, 9 + 4 + 68]);
    assert.equal(sizes.reduce((a, b) => a + b, 0) + 9, reply.length, 'with the closing header: the whole reply');
    assert.deepEqual(res[0]?.kind === 'data' && [...res[0].data], [0, 1]);
    assert.deepEqual(res[1], { kind: 'children', children: ['c1', 'c2'] });
    assert.deepEqual(res[2], { kind: 'error', code: -101 });
    assert.deepEqual(res[3]?.kind === 'data' && res[3].data.length, 0);
  });

  test('multiRead reply: children as full paths for the ops that ask (asPaths), names for the others', () => {
    const w = new JuteWriter();
    w.int(Op.getChildren).bool(false).int(0).strings(['c1', 'c2']);
    w.int(Op.getChildren).bool(false).int(0).strings(['c1']);
    w.int(-1).bool(true).int(-1);
    const res = decodeMultiRead(new JuteReader(body(w.frame())), [{ kind: 'children', path: '/p', asPaths: true }, { kind: 'children', path: '/q' }]);
    assert.deepEqual(res, [{ kind: 'children', children: ['/p/c1', '/p/c2'] }, { kind: 'children', children: ['c1'] }]);
  });
});

describe('pathsUnder: child names read as paths, the same strings as childPath(parent, name)', () => {
  const long = `dubbo%3A%2F%2F10.0.0.1%3A20880%2F${'x'.repeat(3000)}`;
  const cases: { name: string; parent: string; names: (string | Buffer | null)[] }[] = [
    { name: 'ASCII names', parent: '/dubbo/svc/providers', names: ['a', 'dubbo%3A%2F%2F10.0.0.1%3A20880', ''] },
    { name: 'under the root', parent: '/', names: ['dubbo', 'zookeeper'] },
    { name: 'non-ASCII names and parent', parent: '/注册/服务', names: ['提供者', 'ü', 'plain'] },
    { name: 'a name longer than the first scratch buffer, then a short one', parent: '/d', names: [long, 'b', long + 'y'] },
    { name: 'invalid UTF-8 in a name decodes as the name alone would', parent: '/d', names: [Buffer.from([0x61, 0xc3, 0x28, 0xff]), 'ok'] },
    { name: 'a null name reads as empty', parent: '/d', names: [null] },
    { name: 'no children', parent: '/d', names: [] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const w = new JuteWriter().int(c.names.length);
      for (const n of c.names) {
        if (n === null) w.int(-1);
        else w.buffer(typeof n === 'string' ? Buffer.from(n) : n);
      }
      const frame = body(w.frame());
      const names = new JuteReader(frame).strings();
      const r = new JuteReader(frame);
      assert.deepEqual(r.pathsUnder(c.parent), names.map((n) => childPath(c.parent, n)));
      assert.equal(r.remaining, 0);
    });
  }
});

describe('FrameReader', () => {
  const frames = [Buffer.from('first frame'), Buffer.alloc(3000, 7), Buffer.from('x')].map((b) => {
    const f = Buffer.alloc(4 + b.length);
    f.writeInt32BE(b.length, 0);
    b.copy(f, 4);
    return f;
  });
  const stream = Buffer.concat(frames);

  /** Splits the stream into chunks of `size` and reads back every frame. */
  const readAll = (size: number): Buffer[] => {
    const rx = new FrameReader();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) {
      rx.push(stream.subarray(i, i + size));
      for (;;) {
        const head = rx.peek(0, 4);
        if (head === null || rx.available < 4 + head.readInt32BE(0)) break;
        rx.drop(4);
        out.push(Buffer.from(rx.take(head.readInt32BE(0))));
      }
    }
    assert.equal(rx.available, 0);
    return out;
  };

  for (const size of [1, 3, 4, 5, 17, 1000, stream.length]) {
    test(`frames split into chunks of ${size} bytes come back whole`, () => {
      assert.deepEqual(readAll(size), frames.map((f) => f.subarray(4)));
    });
  }

  test('drop skips across chunks and reports what it dropped', () => {
    const rx = new FrameReader();
    rx.push(Buffer.from('abc'));
    rx.push(Buffer.from('defg'));
    assert.equal(rx.drop(5), 5);
    assert.equal(rx.take(2).toString(), 'fg');
    assert.equal(rx.drop(10), 0);
  });
});

describe('ZooKeeper error codes from either client', () => {
  const cases: { name: string; err: unknown; code: number | null }[] = [
    { name: 'addon: message starting with the code', err: new Error('-101 no node'), code: -101 },
    { name: 'addon promise wrapper: invalid state after expiry', err: new Error('fn: "a_get_children" args: "/a,false" result: "ZINVALIDSTATE -9"'), code: -9 },
    { name: 'protocol client', err: new ZkProtocolError(-4, 'connection to ZooKeeper lost'), code: -4 },
    { name: 'anything else', err: new Error('boom'), code: null },
  ];
  for (const c of cases) test(c.name, () => assert.equal(zkCodeOf(c.err), c.code));

  test('an invalid session handle names the lost session and is not retried', () => {
    const e = toZkError(new Error('fn: "a_get" args: "/a,false" result: "ZINVALIDSTATE -9"'), 'get', '/a');
    assert.match(e.message, /invalid_state \(-9\).*session expired/);
    assert.equal(e.retryable, false);
  });
});
