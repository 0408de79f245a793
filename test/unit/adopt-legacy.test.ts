import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startsWithPattern } from '../../common/ownership/adopt-legacy.js';

describe('startsWithPattern (Redis SCAN MATCH for the 1.x records under a prefix)', () => {
  const cases = [
    { name: 'a plain path', literal: '/dubbo', pattern: '/dubbo*' },
    { name: 'star and question mark', literal: '/a*b?', pattern: '/a\\*b\\?*' },
    { name: 'brackets', literal: '/svc[1]', pattern: '/svc\\[1\\]*' },
    { name: 'a backslash', literal: '/a\\b', pattern: '/a\\\\b*' },
    { name: 'an etcd prefix before the path', literal: 'registry/dubbo', pattern: 'registry/dubbo*' },
    { name: 'non-ASCII', literal: '/服务', pattern: '/服务*' },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(startsWithPattern(c.literal), c.pattern));
  }
});
