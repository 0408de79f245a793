import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { authedZk, describeRun, runCliBounded, secretFile } from '../helpers/secure-servers.js';
import type { AuthedZk } from '../helpers/secure-servers.js';
import { etcdDump, freshName, jsonReport, testEtcd, testRedis } from '../helpers/services.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';

const DEADLINE_MS = 30_000;

/**
 * SPEC §4.5/§7: ZooKeeper digest auth. Nodes under a fresh root on the shared ZooKeeper carry a digest
 * ACL; with --zookeeper-auth(-file) they are read and mirrored; without it, a node we may not read is
 * an error, never "absent", so the etcd keys mirrored from it survive.
 */
describe('ZooKeeper digest auth', () => {
  const name = freshName('sec-zk');
  const root = `/${name}`;
  const secret = `${root}/secret`;
  const instance = name;
  const credentials = `zk2etcd:zk-pw-${name}`;
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-sec-'));
  const authFile = secretFile(dir, 'zookeeper-auth', credentials);
  const wrongFile = secretFile(dir, 'zookeeper-auth-wrong', 'zk2etcd:not-the-password');
  const etcd = testEtcd();
  const redis = testRedis();
  const hash = ownershipHashKey(instance);
  let zk: AuthedZk;
  const flags = (prefix = root) => [`--zookeeper-prefix=${prefix}`, '--zookeeper-exclude-prefix=', `--instance=${instance}`, '--output=json'];
  const want: [string, string][] = [
    [root, 'root'],
    [`${root}/open`, 'open data'],
    [secret, 'secret data'],
    [`${secret}/child`, 'child of a protected node'],
  ];

  /** etcd keys, values and mod revisions under the root: a failed run must leave all of them as they were. */
  async function etcdState(): Promise<Record<string, string>> {
    const res = await etcd.getAll().prefix(root).exec();
    return Object.fromEntries(res.kvs.map((kv) => [kv.key.toString(), `${kv.value.toString()}@${kv.mod_revision}`]));
  }

  before(async () => {
    zk = await authedZk(credentials);
    for (const [path, data] of want) await zk.create(path, Buffer.from(data));
    // Only our digest user may do anything with the node, reading its data and its children included.
    await zk.restrict(secret, credentials);
  });

  after(async () => {
    await zk?.removeTree(root);
    zk?.close();
    await etcd.delete().prefix(root);
    etcd.close();
    await redis.del(hash);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  test('with --zookeeper-auth-file, diff sees the protected nodes and fix copies them', { timeout: 60_000 }, async () => {
    const d = await runCliBounded(['diff', ...flags(), `--zookeeper-auth-file=${authFile}`], {}, DEADLINE_MS);
    assert.equal(d.code, 3, describeRun(d));
    assert.deepEqual(jsonReport(d).missing, want.map(([k]) => k).sort());

    const f = await runCliBounded(['fix', ...flags(), `--zookeeper-auth-file=${authFile}`], {}, DEADLINE_MS);
    assert.equal(f.code, 0, describeRun(f));
    assert.deepEqual(jsonReport(f).applied, { put: 4, delete: 0, skipped: 0 });
    const got = await etcdDump(etcd, root);
    assert.deepEqual(Object.fromEntries([...got].map(([k, v]) => [k, v.toString()])), Object.fromEntries(want));
    assert.deepEqual(Object.keys(await redis.hgetall(hash)).sort(), want.map(([k]) => k).sort(), 'all four recorded as ours');

    // The same credentials from the environment.
    const again = await runCliBounded(['diff', ...flags()], { ZK2ETCD_ZOOKEEPER_AUTH_FILE: authFile }, DEADLINE_MS);
    assert.equal(again.code, 0, describeRun(again));
    assert.equal(jsonReport(again).inSync, true);
  });

  test('without auth, diff reports the unreadable node as an error (exit 1), never as absent', { timeout: 60_000 }, async () => {
    const d = await runCliBounded(['diff', ...flags()], {}, DEADLINE_MS);
    assert.equal(d.timedOut, false, `hung: ${describeRun(d)}`);
    assert.equal(d.code, 1, describeRun(d));
    assert.ok(d.stderr.includes(secret), `the error names ${secret}: ${d.stderr}`);
    assert.match(d.stderr, /--zookeeper-auth/);
    assert.doesNotMatch(d.stdout, /"extra"/, 'no report claiming the protected keys are extra');
  });

  test('without auth (or with a wrong password), fix fails and deletes nothing mirrored from the protected node', { timeout: 90_000 }, async () => {
    // A real difference besides: fix must not apply a partial plan either.
    await zk.removeTree(`${root}/open`);
    const before = await etcdState();
    const recordsBefore = await redis.hgetall(hash);
    for (const [label, extra] of [
      ['no auth', []],
      ['wrong password', [`--zookeeper-auth-file=${wrongFile}`]],
    ] as const) {
      const r = await runCliBounded(['fix', ...flags(), ...extra], {}, DEADLINE_MS);
      assert.equal(r.timedOut, false, `${label}: hung: ${describeRun(r)}`);
      assert.equal(r.code, 1, `${label}: ${describeRun(r)}`);
      assert.ok(r.stderr.includes(secret), `${label}: the error names ${secret}: ${r.stderr}`);
      assert.match(r.stderr, /--zookeeper-auth/, label);
      assert.deepEqual(await etcdState(), before, `${label}: every etcd key, value and revision unchanged`);
      assert.deepEqual(await redis.hgetall(hash), recordsBefore, `${label}: records unchanged`);
    }
    assert.equal((await etcd.get(secret).string()), 'secret data');
    assert.equal((await etcd.get(`${secret}/child`).string()), 'child of a protected node');

    // With auth again, only the real difference is applied.
    const ok = await runCliBounded(['fix', ...flags(), `--zookeeper-auth-file=${authFile}`], {}, DEADLINE_MS);
    assert.equal(ok.code, 0, describeRun(ok));
    assert.deepEqual(jsonReport(ok).applied, { put: 0, delete: 1, skipped: 0 });
    assert.equal(await etcd.get(`${root}/open`).string(), null);
    assert.equal(await etcd.get(`${secret}/child`).string(), 'child of a protected node');
  });

  test('an unreadable prefix root is an error even with --allow-empty-source: its keys survive', { timeout: 60_000 }, async () => {
    const before = await etcdState();
    for (const extra of [[], ['--allow-empty-source', '--force']]) {
      const r = await runCliBounded(['fix', ...flags(secret), ...extra], {}, DEADLINE_MS);
      assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
      assert.equal(r.code, 1, describeRun(r));
      assert.ok(r.stderr.includes(secret), r.stderr);
      assert.match(r.stderr, /--zookeeper-auth/);
      assert.doesNotMatch(r.stderr, /does not exist/, 'not mistaken for a missing prefix');
    }
    assert.deepEqual(await etcdState(), before, 'the protected subtree is still mirrored');
  });

  test('a malformed auth value is a usage error (exit 2) that does not echo it', async () => {
    const bad = secretFile(dir, 'zookeeper-auth-bad', `no-colon-${name}`);
    const r = await runCliBounded(['diff', ...flags(), `--zookeeper-auth-file=${bad}`], {}, DEADLINE_MS);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /--zookeeper-auth: must be user:password/);
    assert.ok(!r.stderr.includes(`no-colon-${name}`) && !r.stdout.includes(`no-colon-${name}`), 'value not echoed');
  });
});
