import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { aclRedis, blackHole, describeRun, runCliBounded, secretFile } from '../helpers/secure-servers.js';
import type { AclRedis } from '../helpers/secure-servers.js';
import { assertMirrored, etcdDump, freshName, jsonReport, testEtcd, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { generatePki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';

/** A refused or hung Redis must end the run within this (connect timeout 5 s, one retry). */
const FAIL_DEADLINE_MS = 20_000;

function tree(root: string): [string, Buffer][] {
  return [
    [root, Buffer.alloc(0)],
    [`${root}/providers`, Buffer.alloc(0)],
    [`${root}/providers/a`, Buffer.from('alpha')],
    [`${root}/providers/b`, Buffer.from([0, 1, 2, 255])],
  ];
}

/** The ownership records, as `field -> value`, of `instance` in the private Redis. */
async function records(admin: Redis, instance: string): Promise<Record<string, string>> {
  return admin.hgetall(ownershipHashKey(instance));
}

/** SPEC §3/§7: the ownership store behind an ACL user; wrong credentials fail closed. */
describe('Redis with an ACL user and password', () => {
  const name = freshName('sec-redis-acl');
  const root = `/${name}`;
  const instance = name;
  const password = `redis-pw-${name}`;
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-sec-'));
  const etcd = testEtcd();
  let redis: AclRedis;
  let admin: Redis;
  let zk: TestZk;
  const flags = () => [`--redis-server=${redis.address}`, `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${instance}`, '--output=json'];

  before(async () => {
    redis = await aclRedis({
      adminPassword: `admin-${name}`,
      users: [
        // Only the ownership keys: proves zk2etcd touches nothing else.
        { name: 'zk2etcd', password, rules: '~zk2etcd:* +@all' },
        // May log in, but may not touch the ownership hash.
        { name: 'nokeys', password, rules: '~other:* +@all' },
      ],
    });
    admin = redis.admin();
    zk = await testZk();
    await zk.createAll(tree(root));
  });

  after(async () => {
    await zk?.removeTree(root);
    zk?.close();
    await etcd.delete().prefix(root);
    etcd.close();
    admin?.disconnect();
    await redis?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--redis-username with --redis-password-file: the tree is copied and every key recorded', { timeout: 60_000 }, async () => {
    const pwFile = secretFile(dir, 'redis-password', password);
    const r = await runCliBounded(['fix', ...flags(), '--redis-username=zk2etcd', `--redis-password-file=${pwFile}`], {}, 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(jsonReport(r).applied, { put: 4, delete: 0, skipped: 0 });
    await assertMirrored(etcd, root);
    const owned = await records(admin, instance);
    assert.deepEqual(Object.keys(owned).sort(), tree(root).map(([k]) => k).sort(), 'every written key recorded');
    for (const [k, v] of Object.entries(owned)) {
      const rev = (await etcd.get(k).exec()).kvs[0]?.mod_revision;
      assert.equal(v, rev, `record of ${k} is the mod revision of our write`);
    }
    assert.deepEqual(await admin.keys('*'), [ownershipHashKey(instance)], 'nothing else written to Redis');

    // The same through the environment: ownership proven, a stale key deleted.
    await zk.remove(`${root}/providers/b`);
    const d = await runCliBounded(['fix', ...flags()], { ZK2ETCD_REDIS_USERNAME: 'zk2etcd', ZK2ETCD_REDIS_PASSWORD_FILE: pwFile }, 30_000);
    assert.equal(d.code, 0, describeRun(d));
    assert.deepEqual(jsonReport(d).applied, { put: 0, delete: 1, skipped: 0 });
    assert.equal(await etcd.get(`${root}/providers/b`).string(), null);
    assert.equal((await records(admin, instance))[`${root}/providers/b`], undefined);
  });

  test('a wrong password exits 1 naming the flags; etcd and the records are unchanged', { timeout: 60_000 }, async () => {
    await zk.create(`${root}/providers/c`, Buffer.from('new'));
    await zk.remove(`${root}/providers/a`);
    const etcdBefore = await etcdDump(etcd, root);
    const recordsBefore = await records(admin, instance);
    const pwFile = secretFile(dir, 'wrong-password', 'not-the-password');
    const r = await runCliBounded(['fix', ...flags(), '--redis-username=zk2etcd', `--redis-password-file=${pwFile}`], {}, FAIL_DEADLINE_MS);
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /ownership store/);
    assert.match(r.stderr, /--redis-password-file/);
    assert.deepEqual(await etcdDump(etcd, root), etcdBefore, 'etcd unchanged: nothing written, nothing deleted');
    assert.deepEqual(await records(admin, instance), recordsBefore);
  });

  test('no username (the default user is disabled): exit 1, etcd unchanged', { timeout: 60_000 }, async () => {
    const etcdBefore = await etcdDump(etcd, root);
    const pwFile = secretFile(dir, 'redis-password-2', password);
    const r = await runCliBounded(['fix', ...flags(), `--redis-password-file=${pwFile}`], {}, FAIL_DEADLINE_MS);
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.deepEqual(await etcdDump(etcd, root), etcdBefore);
  });

  test('a user without access to the ownership hash fails closed: exit 1, etcd unchanged', { timeout: 60_000 }, async () => {
    const etcdBefore = await etcdDump(etcd, root);
    const pwFile = secretFile(dir, 'redis-password-3', password);
    const r = await runCliBounded(['fix', ...flags(), '--redis-username=nokeys', `--redis-password-file=${pwFile}`], {}, FAIL_DEADLINE_MS);
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /NOPERM|no permissions/i);
    assert.deepEqual(await etcdDump(etcd, root), etcdBefore, 'nothing written or deleted without ownership records');
    assert.equal(await etcd.get(`${root}/providers/c`).string(), null);
  });

  test('the right credentials afterwards fix everything that was left', { timeout: 60_000 }, async () => {
    const pwFile = secretFile(dir, 'redis-password-4', password);
    const r = await runCliBounded(['fix', ...flags(), '--redis-username=zk2etcd', `--redis-password-file=${pwFile}`], {}, 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(jsonReport(r).applied, { put: 1, delete: 1, skipped: 0 });
    await assertMirrored(etcd, root);
  });
});

/** SPEC §7: --redis-tls (and rediss://). Debian's redis-server 7.0.15 is built with TLS. */
describe('Redis over TLS', () => {
  const name = freshName('sec-redis-tls');
  const root = `/${name}`;
  const instance = name;
  const password = `redis-tls-pw-${name}`;
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-sec-'));
  const etcd = testEtcd();
  let pki: TestPki;
  let redis: AclRedis;
  let admin: Redis;
  let zk: TestZk;
  let pwFile: string;
  const flags = () => [`--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${instance}`, '--output=json', '--redis-username=zk2etcd', `--redis-password-file=${pwFile}`];
  // zk2etcd has no Redis CA flag: a private CA is trusted through Node's NODE_EXTRA_CA_CERTS.
  const trustCa = () => ({ NODE_EXTRA_CA_CERTS: pki.caCert });

  before(async () => {
    pki = generatePki('zk2etcd-redis');
    redis = await aclRedis({ adminPassword: `admin-${name}`, users: [{ name: 'zk2etcd', password, rules: '~zk2etcd:* +@all' }], tls: pki });
    admin = redis.admin();
    pwFile = secretFile(dir, 'redis-password', password);
    zk = await testZk();
    await zk.createAll(tree(root));
  });

  after(async () => {
    await zk?.removeTree(root);
    zk?.close();
    await etcd.delete().prefix(root);
    etcd.close();
    admin?.disconnect();
    await redis?.cleanup();
    pki?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--redis-tls: the tree is copied and recorded over TLS', { timeout: 60_000 }, async () => {
    const r = await runCliBounded(['fix', ...flags(), `--redis-server=${redis.address}`, '--redis-tls'], trustCa(), 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(jsonReport(r).applied, { put: 4, delete: 0, skipped: 0 });
    await assertMirrored(etcd, root);
    assert.deepEqual(Object.keys(await records(admin, instance)).sort(), tree(root).map(([k]) => k).sort());
  });

  test('rediss:// implies TLS', { timeout: 60_000 }, async () => {
    await zk.create(`${root}/providers/c`, Buffer.from('via rediss'));
    const r = await runCliBounded(['fix', ...flags(), `--redis-server=rediss://${redis.address}`], trustCa(), 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(jsonReport(r).applied, { put: 1, delete: 0, skipped: 0 });
    assert.equal(await etcd.get(`${root}/providers/c`).string(), 'via rediss');
    assert.ok((await records(admin, instance))[`${root}/providers/c`]);
  });

  test('an untrusted server certificate or plaintext to the TLS port: exit 1, etcd unchanged, no hang', { timeout: 90_000 }, async () => {
    await zk.create(`${root}/providers/d`, Buffer.from('not yet'));
    const etcdBefore = await etcdDump(etcd, root);
    const cases: [string, string[], Record<string, string>][] = [
      ['untrusted CA', [`--redis-server=${redis.address}`, '--redis-tls'], {}],
      ['plaintext', [`--redis-server=${redis.address}`], trustCa()],
    ];
    for (const [label, extra, env] of cases) {
      const r = await runCliBounded(['fix', ...flags(), ...extra], env, FAIL_DEADLINE_MS);
      assert.equal(r.timedOut, false, `${label}: hung: ${describeRun(r)}`);
      assert.equal(r.code, 1, `${label}: ${describeRun(r)}`);
      assert.match(r.stderr, /ownership store/, label);
    }
    assert.deepEqual(await etcdDump(etcd, root), etcdBefore);
  });

  test('a Redis that never answers the TLS handshake: exit 1 within the deadline', { timeout: 60_000 }, async () => {
    const hole = await blackHole();
    try {
      const r = await runCliBounded(['diff', ...flags(), `--redis-server=127.0.0.1:${hole.port}`, '--redis-tls'], trustCa(), FAIL_DEADLINE_MS);
      assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, /ownership store/);
    } finally {
      await hole.close();
    }
  });
});
