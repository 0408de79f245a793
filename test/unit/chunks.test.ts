import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { blockOf, cutBlock } from '../../common/chunks.js';
import { compareKeys, type KeySpan } from '../../common/key-order.js';
import { SeenKeys } from '../../common/seen-keys.js';
import { prng } from '../helpers/prng.js';

/** The chunk layout of a full reconcile: key order, the cut of a prefix's key block, seen-key sets. */

const inSpan = (key: string, span: KeySpan) => compareKeys(span.from, key) <= 0 && compareKeys(key, span.to) < 0;
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('compareKeys: etcd key order (UTF-8 bytes)', () => {
  const cases: { name: string; a: string; b: string }[] = [
    { name: 'ASCII', a: '/dubbo/a', b: '/dubbo/b' },
    { name: 'a prefix sorts first', a: '/dubbo/a', b: '/dubbo/a/x' },
    { name: "'-' sorts before '/'", a: '/dubbo/a-b', b: '/dubbo/a/x' },
    { name: 'BMP above U+E000 before a surrogate pair (JS < says the opposite)', a: '/k/\uff21', b: '/k/\u{1f600}' },
    { name: 'two surrogate pairs', a: '/k/\u{1f600}', b: '/k/\u{1f601}' },
    { name: 'Latin-1 before CJK', a: '/k/\u00e9', b: '/k/\u4e2d' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.ok(compareKeys(c.a, c.b) < 0);
      assert.ok(compareKeys(c.b, c.a) > 0);
      assert.equal(Math.sign(compareKeys(c.a, c.b)), Math.sign(utf8Order(c.a, c.b)), 'same order as the UTF-8 bytes');
    });
  }

  test('agrees with the UTF-8 byte order on 2,000 random pairs', () => {
    const r = prng(7);
    const alphabet = ['a', 'b', '-', '.', '/', '0', '~', '\u00e9', '\u4e2d', '\uff21', '\ufffd', '\u{1f600}', '\u{10000}'];
    const word = () => Array.from({ length: 1 + Math.floor(r() * 6) }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const a = `/p/${word()}`;
      const b = `/p/${word()}`;
      assert.equal(Math.sign(compareKeys(a, b)), Math.sign(utf8Order(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  });

  test('inSpan is half-open', () => {
    const span = { from: '/d/b', to: '/d/c' };
    assert.equal(inSpan('/d/b', span), true);
    assert.equal(inSpan('/d/bzz', span), true);
    assert.equal(inSpan('/d/c', span), false);
    assert.equal(inSpan('/d/a', span), false);
  });
});

describe('cutBlock: chunks partition the prefix block and never split a subtree', () => {
  const r = prng(11);
  const names = new Set<string>();
  // Names that interleave with their siblings' subtrees in key order: n, n-x, n.x, n!, n0.
  while (names.size < 700) {
    const base = `s${Math.floor(r() * 400)}`;
    names.add(base);
    names.add(`${base}${['-x', '.x', '!', '0', ' y'][Math.floor(r() * 5)]}`);
  }
  const prefix = '/dubbo';
  const units = [...names].map((n) => `${prefix}/${n}`);
  const unitKeys = units.map((p) => `/e${p}`).sort(compareKeys);
  const chunks = cutBlock('/e', prefix, [prefix], units);
  const block = blockOf('/e', prefix);

  test('several chunks, the first carrying the prefix key', () => {
    assert.ok(chunks.length > 10, `${chunks.length} chunks`);
    assert.equal(chunks[0]?.exact, '/e/dubbo');
    assert.ok(chunks.slice(1).every((c) => c.exact === null));
  });

  test('spans are contiguous from the block start to its end', () => {
    assert.equal(chunks[0]?.span.from, block.from);
    assert.equal(chunks[chunks.length - 1]?.span.to, block.to);
    for (let i = 1; i < chunks.length; i++) assert.equal(chunks[i]?.span.from, chunks[i - 1]?.span.to);
    for (const c of chunks) assert.ok(compareKeys(c.span.from, c.span.to) < 0, 'non-empty span');
  });

  test('every key in the block is in exactly one chunk, and each subtree block lies in one chunk', () => {
    const probes = [...unitKeys, ...unitKeys.map((k) => `${k}/child`), ...unitKeys.map((k) => `${k}/a/b/c`), ...unitKeys.map((k) => `${k}-zz`)];
    for (const key of probes) {
      const holders = chunks.filter((c) => inSpan(key, c.span));
      assert.equal(holders.length, 1, `${key} in ${holders.length} chunks`);
    }
    for (const unit of unitKeys) {
      const first = chunks.findIndex((c) => inSpan(`${unit}/`, c.span));
      const last = chunks.findIndex((c) => inSpan(`${unit}/\u{10ffff}\u{10ffff}`, c.span));
      assert.equal(first, last, `the subtree of ${unit} is split`);
    }
  });

  test('each unit is walked by the chunk holding its subtree; its own key is read by the chunk holding it', () => {
    const spanHolding = (key: string) => chunks.findIndex((c) => inSpan(key, c.span));
    for (const unit of units) {
      const key = `/e${unit}`;
      const walkers = chunks.flatMap((c, i) => (c.walk.includes(unit) ? [i] : []));
      assert.deepEqual(walkers, [spanHolding(`${key}/`)], `${unit} walked once, where its subtree is`);
      const own = spanHolding(key);
      const readers = chunks.flatMap((c, i) => (c.ownOnly.includes(unit) || (c.walk.includes(unit) && !c.notOwn.includes(key)) ? [i] : []));
      assert.deepEqual(readers, [own], `${unit}'s own key read once, where it is`);
    }
    assert.ok(chunks.some((c) => c.notOwn.length > 0), 'the interleaving names put some own keys in a neighbouring chunk');
    assert.deepEqual(chunks.flatMap((c) => (c.ownOnly.includes(prefix) ? [c] : [])), [chunks[0]], 'the prefix node is read by the first chunk');
  });

  test('the prefix `/` has no key of its own and keeps sibling prefixes out', () => {
    const root = cutBlock('/e', '/', ['/'], ['/a', '/b']);
    assert.equal(root[0]?.exact, null);
    assert.equal(root[0]?.span.from, '/e/');
    assert.equal(root[root.length - 1]?.span.to, '/e0');
    assert.equal(blockOf('', '/dubbo').to, '/dubbo0', '`/dubbo-admin` sorts before /dubbo0 but after /dubbo/: outside the block');
    assert.equal(inSpan('/dubbo-admin/x', { from: blockOf('', '/dubbo').from, to: blockOf('', '/dubbo').to }), false);
  });

  test('one unit gives one chunk over the whole block', () => {
    const one = cutBlock('', '/dubbo', ['/dubbo'], ['/dubbo/a']);
    assert.equal(one.length, 1);
    assert.deepEqual(one[0]?.span, { from: '/dubbo/', to: '/dubbo0' });
  });
});

describe('SeenKeys: which side a key was seen on, by hash', () => {
  // A hash with too few effective bits (a word-at-a-time hash without rotations) merged 11 of these keys.
  test('100,000 long similar keys: each reports exactly the sides it was marked with', () => {
    const seen = new SeenKeys();
    const key = (i: number) => `/dubbo/org.apache.dubbo.Service${i % 100}/providers/dubbo%3A%2F%2F10.0.${i >> 8}.${i & 255}%3A20880%2F${'x'.repeat(400)}`;
    for (let i = 0; i < 100_000; i++) if (i % 4 !== 3) seen.mark(key(i), i % 4 !== 1, i % 4 !== 0);
    seen.mark(key(2), false, true); // marking again adds sides, never removes one
    assert.equal(seen.size, 75_000);
    for (let i = 0; i < 100_000; i++) {
      const want = { inEtcd: i % 4 === 0 || i % 4 === 2, inZk: i % 4 === 1 || i % 4 === 2 };
      assert.deepEqual(seen.sidesOf(key(i)), want, key(i));
    }
  });

  const distinct: { name: string; keys: string[] }[] = [
    { name: 'keys that differ only by trailing NUL bytes (the last word is padded with zeros)', keys: ['', '\0', 'a', 'a\0', 'a\0\0', 'a\0\0\0', 'a\0\0\0\0', 'abcd', 'abcd\0'] },
    { name: 'non-ASCII keys, one character apart', keys: ['/注册/服务', '/注册/服勿', '/k/\u{1f600}', '/k/\u{1f601}', '/k/\u00e9', '/k/e\u0301'] },
    { name: 'keys longer than the first scratch buffer (60 KB in UTF-8), one character apart, then a short one', keys: [`/${'服'.repeat(20_000)}a`, `/${'服'.repeat(20_000)}b`, '/short'] },
    { name: 'the same words in another order', keys: ['/aaaabbbb', '/bbbbaaaa', '/aaaaaaaa', '/bbbbbbbb'] },
  ];
  for (const c of distinct) {
    test(`distinct sides for ${c.name}`, () => {
      const seen = new SeenKeys();
      c.keys.forEach((k, i) => seen.mark(k, i % 2 === 0, i % 2 === 1));
      assert.equal(seen.size, c.keys.length, 'one entry per key');
      c.keys.forEach((k, i) => assert.deepEqual(seen.sidesOf(k), { inEtcd: i % 2 === 0, inZk: i % 2 === 1 }, JSON.stringify(k.slice(0, 20))));
      assert.deepEqual(new SeenKeys().sidesOf(c.keys[0] as string), { inEtcd: false, inZk: false }, 'an unmarked key: neither side');
    });
  }
});
