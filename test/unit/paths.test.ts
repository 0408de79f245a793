import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { childPath, covers, etcdRangesFor, isExcluded, isSynced, keyMapper, pathProblem } from '../../common/paths.js';

/** Path-segment matching and key mapping (SPEC §2). */

const DUBBO_LEAF = `/dubbo/org.apache.demo.DemoService/providers/${encodeURIComponent(
  'dubbo://10.0.0.1:20880/org.apache.demo.DemoService?anyhost=true&application=demo&dynamic=true&pid=4242&timestamp=1700000000000',
)}`;

describe('covers', () => {
  const cases: { name: string; prefix: string; path: string; expected: boolean }[] = [
    { name: 'the prefix itself', prefix: '/dubbo', path: '/dubbo', expected: true },
    { name: 'a direct child', prefix: '/dubbo', path: '/dubbo/svc', expected: true },
    { name: 'a deep descendant', prefix: '/dubbo', path: '/dubbo/svc/providers/x', expected: true },
    { name: 'a sibling sharing the string prefix (/dubbo-admin)', prefix: '/dubbo', path: '/dubbo-admin', expected: false },
    { name: 'a child of that sibling', prefix: '/dubbo', path: '/dubbo-admin/x', expected: false },
    { name: 'a longer segment (/dubbo0)', prefix: '/dubbo', path: '/dubbo0', expected: false },
    { name: 'the parent of the prefix', prefix: '/dubbo/svc', path: '/dubbo', expected: false },
    { name: 'an unrelated path', prefix: '/dubbo', path: '/other', expected: false },
    { name: 'root covers a top-level node', prefix: '/', path: '/dubbo', expected: true },
    { name: 'root covers itself', prefix: '/', path: '/', expected: true },
    { name: 'root covers a deep node', prefix: '/', path: '/a/b/c', expected: true },
    { name: 'a URL-encoded leaf below the prefix', prefix: '/dubbo', path: DUBBO_LEAF, expected: true },
    { name: 'an encoded slash (%2F) stays inside its segment', prefix: '/dubbo/a%2Fb', path: '/dubbo/a%2Fb/c', expected: true },
    { name: 'an encoded slash is not a segment boundary', prefix: '/dubbo/a', path: '/dubbo/a%2Fb', expected: false },
    { name: 'a unicode prefix covers its child', prefix: '/注册中心', path: '/注册中心/服务', expected: true },
    { name: 'a unicode prefix does not cover a longer name', prefix: '/注册中心', path: '/注册中心二', expected: false },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(covers(c.prefix, c.path), c.expected));
  }
});

describe('isExcluded', () => {
  const excludes = ['/dubbo/config'];
  const cases: { name: string; path: string; excludes: readonly string[]; expected: boolean }[] = [
    { name: 'the excluded node itself', path: '/dubbo/config', excludes, expected: true },
    { name: 'below the excluded node', path: '/dubbo/config/dubbo/app.properties', excludes, expected: true },
    { name: '/dubbo/configurators is not /dubbo/config', path: '/dubbo/configurators', excludes, expected: false },
    { name: 'a configurators child is not excluded', path: '/dubbo/configurators/x', excludes, expected: false },
    { name: 'the parent of an exclude', path: '/dubbo', excludes, expected: false },
    { name: 'an empty list excludes nothing', path: '/dubbo/config', excludes: [], expected: false },
    { name: 'any of several excludes', path: '/dubbo/metadata/x', excludes: ['/dubbo/config', '/dubbo/metadata'], expected: true },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(isExcluded(c.path, c.excludes), c.expected));
  }
});

describe('isSynced', () => {
  const dubbo = { prefixes: ['/dubbo'], excludes: ['/dubbo/config'] };
  const root = { prefixes: ['/'], excludes: [] as string[] };
  const cases: { name: string; path: string; prefixes: readonly string[]; excludes: readonly string[]; expected: boolean }[] = [
    { name: 'the prefix root', path: '/dubbo', ...dubbo, expected: true },
    { name: 'a Dubbo provider leaf', path: DUBBO_LEAF, ...dubbo, expected: true },
    { name: 'a sibling of the prefix', path: '/dubbo-admin', ...dubbo, expected: false },
    { name: 'the excluded subtree', path: '/dubbo/config/app', ...dubbo, expected: false },
    { name: 'configurators next to the excluded config', path: '/dubbo/configurators/override', ...dubbo, expected: true },
    { name: 'outside every prefix', path: '/other', ...dubbo, expected: false },
    { name: 'under one of several prefixes', path: '/b/x', prefixes: ['/a', '/b'], excludes: [], expected: true },
    { name: 'no prefixes: nothing is synced', path: '/dubbo', prefixes: [], excludes: [], expected: false },
    { name: '/zookeeper is never synced, even under /', path: '/zookeeper', ...root, expected: false },
    { name: '/zookeeper/quota is never synced, even under /', path: '/zookeeper/quota', ...root, expected: false },
    { name: '/zookeeper is never synced when named as a prefix', path: '/zookeeper/config', prefixes: ['/zookeeper'], excludes: [], expected: false },
    { name: '/zookeeper-like siblings are synced under /', path: '/zookeeper2', ...root, expected: true },
    { name: 'other top-level nodes are synced under /', path: '/dubbo/x', ...root, expected: true },
    { name: 'unicode paths are synced', path: '/服务/提供者', prefixes: ['/服务'], excludes: [], expected: true },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(isSynced(c.path, c.prefixes, c.excludes), c.expected));
  }
});

describe('childPath', () => {
  const cases: { name: string; parent: string; child: string; expected: string }[] = [
    { name: 'under the root', parent: '/', child: 'dubbo', expected: '/dubbo' },
    { name: 'under a node', parent: '/dubbo', child: 'svc', expected: '/dubbo/svc' },
    { name: 'a URL-encoded name is kept verbatim', parent: '/dubbo/svc/providers', child: 'dubbo%3A%2F%2F10.0.0.1', expected: '/dubbo/svc/providers/dubbo%3A%2F%2F10.0.0.1' },
    { name: 'a unicode name', parent: '/dubbo', child: 'サービス', expected: '/dubbo/サービス' },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(childPath(c.parent, c.child), c.expected));
  }
});

describe('pathProblem', () => {
  const valid: { name: string; path: string }[] = [
    { name: 'root', path: '/' },
    { name: 'a simple path', path: '/dubbo' },
    { name: 'a nested path', path: '/dubbo/config' },
    { name: 'a URL-encoded name with %2F', path: '/dubbo/a%2Fb' },
    { name: 'unicode', path: '/注册中心/服务' },
    { name: 'a dot inside a name', path: '/dubbo/org.apache.Demo' },
    { name: 'three dots', path: '/dubbo/...' },
  ];
  for (const c of valid) {
    test(`accepts ${c.name}`, () => assert.equal(pathProblem(c.path), null));
  }

  const invalid: { name: string; path: string; mentions: string }[] = [
    { name: 'a relative path', path: 'dubbo', mentions: 'must start with /' },
    { name: 'the empty string', path: '', mentions: 'must start with /' },
    { name: 'a trailing slash', path: '/dubbo/', mentions: 'must not end with /' },
    { name: 'an empty segment', path: '/dubbo//x', mentions: '//' },
    { name: 'a NUL byte', path: '/dub\0bo', mentions: 'NUL' },
    { name: 'a . segment', path: '/dubbo/./x', mentions: '. or ..' },
    { name: 'a .. segment', path: '/dubbo/..', mentions: '. or ..' },
  ];
  for (const c of invalid) {
    test(`rejects ${c.name}`, () => {
      const problem = pathProblem(c.path);
      assert.ok(problem !== null, 'expected a problem');
      assert.ok(problem.includes(c.mentions), problem);
    });
  }
});

describe('etcdRangesFor', () => {
  const inRange = (r: { start: Buffer; end: Buffer }, key: string) => {
    const k = Buffer.from(key);
    return Buffer.compare(k, r.start) >= 0 && Buffer.compare(k, r.end) < 0;
  };
  /** Whether a key is listed: the exact key or inside the half-open range. */
  const listed = (r: { exact: Buffer | null; start: Buffer; end: Buffer }, key: string) =>
    (r.exact !== null && r.exact.equals(Buffer.from(key))) || inRange(r, key);

  test('/dubbo: exact /dubbo and the range [/dubbo/, /dubbo0)', () => {
    const r = etcdRangesFor('', '/dubbo');
    assert.deepEqual(r.exact, Buffer.from('/dubbo'));
    assert.deepEqual(r.start, Buffer.from('/dubbo/'));
    assert.deepEqual(r.end, Buffer.from('/dubbo0'));
    assert.ok(!inRange(r, '/dubbo'), 'the prefix root is read as the exact key, not through the range');
  });

  const membership: { name: string; etcdPrefix: string; zkPrefix: string; key: string; expected: boolean }[] = [
    { name: '/dubbo/x is inside the /dubbo range', etcdPrefix: '', zkPrefix: '/dubbo', key: '/dubbo/x', expected: true },
    { name: 'a deep Dubbo leaf is inside the range', etcdPrefix: '', zkPrefix: '/dubbo', key: DUBBO_LEAF, expected: true },
    { name: 'a unicode child is inside the range', etcdPrefix: '', zkPrefix: '/dubbo', key: '/dubbo/服务', expected: true },
    { name: '/dubbo itself is listed (as the exact key)', etcdPrefix: '', zkPrefix: '/dubbo', key: '/dubbo', expected: true },
    { name: '/dubbo-admin falls outside', etcdPrefix: '', zkPrefix: '/dubbo', key: '/dubbo-admin', expected: false },
    { name: '/dubbo-admin/x falls outside', etcdPrefix: '', zkPrefix: '/dubbo', key: '/dubbo-admin/x', expected: false },
    { name: '/dubbo0x falls outside', etcdPrefix: '', zkPrefix: '/dubbo', key: '/dubbo0x', expected: false },
    { name: '/dubbo0 falls outside (end is exclusive)', etcdPrefix: '', zkPrefix: '/dubbo', key: '/dubbo0', expected: false },
    { name: '/dubb falls outside', etcdPrefix: '', zkPrefix: '/dubbo', key: '/dubb', expected: false },
    { name: 'with etcd prefix /zk: /zk/dubbo/x is inside', etcdPrefix: '/zk', zkPrefix: '/dubbo', key: '/zk/dubbo/x', expected: true },
    { name: 'with etcd prefix /zk: /zk/dubbo is the exact key', etcdPrefix: '/zk', zkPrefix: '/dubbo', key: '/zk/dubbo', expected: true },
    { name: 'with etcd prefix /zk: the unprefixed /dubbo/x is outside', etcdPrefix: '/zk', zkPrefix: '/dubbo', key: '/dubbo/x', expected: false },
    { name: 'with etcd prefix /zk: /zk/dubbo-admin is outside', etcdPrefix: '/zk', zkPrefix: '/dubbo', key: '/zk/dubbo-admin', expected: false },
    { name: 'root: every absolute key is inside', etcdPrefix: '', zkPrefix: '/', key: '/anything/at/all', expected: true },
    { name: 'root: a key not starting with / is outside', etcdPrefix: '', zkPrefix: '/', key: 'relative', expected: false },
    { name: 'root with /zk: /zk/a is inside', etcdPrefix: '/zk', zkPrefix: '/', key: '/zk/a', expected: true },
    { name: 'root with /zk: /zk-other/a is outside', etcdPrefix: '/zk', zkPrefix: '/', key: '/zk-other/a', expected: false },
    { name: 'root with /zk: /other is outside', etcdPrefix: '/zk', zkPrefix: '/', key: '/other', expected: false },
  ];
  for (const c of membership) {
    test(c.name, () => assert.equal(listed(etcdRangesFor(c.etcdPrefix, c.zkPrefix), c.key), c.expected));
  }

  test('root /: no exact key, range [/, 0)', () => {
    const r = etcdRangesFor('', '/');
    assert.equal(r.exact, null);
    assert.deepEqual(r.start, Buffer.from('/'));
    assert.deepEqual(r.end, Buffer.from('0'));
  });

  test('etcd prefix /zk and /dubbo: exact /zk/dubbo, range [/zk/dubbo/, /zk/dubbo0)', () => {
    const r = etcdRangesFor('/zk', '/dubbo');
    assert.deepEqual(r.exact, Buffer.from('/zk/dubbo'));
    assert.deepEqual(r.start, Buffer.from('/zk/dubbo/'));
    assert.deepEqual(r.end, Buffer.from('/zk/dubbo0'));
  });

  test('ranges compare bytes, so a unicode prefix is handled byte-wise', () => {
    const r = etcdRangesFor('', '/服务');
    assert.ok(listed(r, '/服务/a'));
    assert.ok(!listed(r, '/服务二'));
    assert.ok(Buffer.compare(r.start, r.end) < 0);
  });
});

describe('keyMapper', () => {
  const cases: { name: string; etcdPrefix: string; path: string; key: string }[] = [
    { name: 'no etcd prefix: key is the path', etcdPrefix: '', path: '/dubbo/svc', key: '/dubbo/svc' },
    { name: 'etcd prefix /zk', etcdPrefix: '/zk', path: '/dubbo/svc', key: '/zk/dubbo/svc' },
    { name: 'a URL-encoded leaf is kept verbatim (no decoding of %2F)', etcdPrefix: '', path: DUBBO_LEAF, key: DUBBO_LEAF },
    { name: 'a unicode path', etcdPrefix: '/镜像', path: '/注册中心/服务', key: '/镜像/注册中心/服务' },
    { name: 'the root path', etcdPrefix: '/zk', path: '/', key: '/zk/' },
  ];
  for (const c of cases) {
    test(`${c.name}: toKey`, () => assert.equal(keyMapper(c.etcdPrefix).toKey(c.path), c.key));
    test(`${c.name}: toPath inverts toKey`, () => assert.equal(keyMapper(c.etcdPrefix).toPath(c.key), c.path));
  }

  test('a key outside the etcd prefix maps to no path', () => {
    assert.equal(keyMapper('/zk').toPath('/dubbo/svc'), null);
  });

  test('a key that only shares the etcd prefix as a string never maps to a synced path', () => {
    const path = keyMapper('/zk').toPath('/zkother/dubbo');
    assert.equal(path === null ? false : isSynced(path, ['/'], []), false);
  });
});
