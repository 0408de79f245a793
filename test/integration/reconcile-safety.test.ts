import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { etcdDump, freshName, jsonReport, runCli, servers, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';

/** Coexistence with other writers (SPEC §3) and the guards of SPEC §4, through the real CLI. */
describe('reconcile is safe beside other writers', () => {
  const name = freshName('safety');
  const root = `/${name}`;
  const sibling = `/${name}-admin`; // shares the string prefix, not the path prefix
  const instance = name;
  const hash = ownershipHashKey(instance);
  const etcd = testEtcd();
  const redis = testRedis();
  let zk: TestZk;
  const flags = [`--zookeeper-prefix=${root}`, `--zookeeper-exclude-prefix=${root}/config`, `--instance=${instance}`, '--output=json'];
  const fix = (...extra: string[]) => runCli(['fix', ...flags, ...extra]);
  const diff = (...extra: string[]) => runCli(['diff', ...flags, ...extra]);

  before(async () => {
    zk = await testZk();
    const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)], [`${root}/config`, Buffer.from('excluded')], [`${root}/configurators`, Buffer.from('kept')]];
    for (let i = 0; i < 20; i++) nodes.push([`${root}/svc${i}`, Buffer.from(`v${i}`)]);
    await zk.createAll(nodes);
    await zk.create(sibling, Buffer.from('sibling in zk'));
    await etcd.put(`${sibling}/other-tool`).value('sibling key');
    await etcd.put(`${root}/foreign`).value('written by another tool');
    await etcd.put(`${root}/config/other`).value('excluded subtree, not ours');
    const r = await fix();
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    await zk.removeTree(root);
    await zk.removeTree(sibling);
    zk.close();
    await etcd.delete().prefix(root);
    await etcd.delete().prefix(sibling);
    await redis.del(hash, `${root}/legacy-owned`);
    etcd.close();
    redis.disconnect();
  });

  test('foreign keys, excluded subtrees and a sibling prefix are left untouched', async () => {
    const report = jsonReport(await diff());
    assert.equal(report.inSync, true);
    assert.deepEqual(report.foreign, [`${root}/foreign`]);
    assert.equal((await etcd.get(`${root}/foreign`).string()), 'written by another tool');
    assert.equal((await etcd.get(`${root}/config/other`).string()), 'excluded subtree, not ours');
    assert.equal((await etcd.get(`${root}/config`).string()), null, 'excluded node not copied');
    assert.equal((await etcd.get(`${root}/configurators`).string()), 'kept', '/config exclude does not cover /configurators');
    assert.equal((await etcd.get(`${sibling}/other-tool`).string()), 'sibling key');
    assert.equal((await etcd.get(sibling).string()), null, 'sibling znode not copied');
  });

  test('a stale owned key is deleted, a changed value updated, a key rewritten by another writer kept', async () => {
    await zk.remove(`${root}/svc1`); // ours, unchanged since our write: extra -> deleted
    await zk.remove(`${root}/svc2`);
    await etcd.put(`${root}/svc2`).value('rewritten by someone else'); // ours, but changed since: conflict
    await zk.set(`${root}/svc3`, Buffer.from('new value')); // changed
    const d = jsonReport(await diff());
    assert.deepEqual(d.extra, [`${root}/svc1`]);
    assert.deepEqual(d.changed, [`${root}/svc3`]);
    assert.equal(d.counts.conflict, 1);

    const r = await fix();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(jsonReport(r).applied, { put: 1, delete: 1, skipped: 0 });
    assert.equal(await etcd.get(`${root}/svc1`).string(), null);
    assert.equal(await redis.hexists(hash, `${root}/svc1`), 0, 'record removed after the delete');
    assert.equal(await etcd.get(`${root}/svc2`).string(), 'rewritten by someone else');
    assert.equal(await etcd.get(`${root}/svc3`).string(), 'new value');
    assert.equal(await etcd.get(`${root}/foreign`).string(), 'written by another tool');
  });

  test('--dry-run changes nothing', async () => {
    await zk.create(`${root}/dry`, Buffer.from('x'));
    const before = await etcdDump(etcd, root);
    const r = await fix('--dry-run');
    assert.equal(r.code, 3, r.stderr);
    const report = jsonReport(r);
    assert.equal(report.dryRun, true);
    assert.equal(report.applied, null);
    assert.deepEqual(report.missing, [`${root}/dry`]);
    assert.deepEqual(await etcdDump(etcd, root), before);
    assert.equal(await redis.hexists(hash, `${root}/dry`), 0);
    await zk.remove(`${root}/dry`);
  });

  test('the deletion guard refuses a mass delete (exit 4); --force proceeds', async () => {
    for (let i = 10; i < 20; i++) await zk.remove(`${root}/svc${i}`);
    await zk.create(`${root}/created-while-refused`, Buffer.from('new'));
    const refused = await fix('--max-delete=5');
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /--max-delete/);
    const { error } = jsonReport(refused);
    assert.equal(error.class, 'deletion_guard');
    assert.equal(error.retryable, false);
    assert.match(error.message, /--max-delete/);
    assert.deepEqual({ ...error.guard, owned: undefined }, { wouldDelete: 10, creates: null, limit: 5, owned: undefined });
    assert.ok(error.guard.owned >= 10);
    assert.equal(await etcd.get(`${root}/svc15`).string(), 'v15', 'nothing deleted when refused');
    assert.equal(await etcd.get(`${root}/created-while-refused`).string(), null, 'nothing created when refused');
    // A dry run previews the plan the guard would refuse: the report, its numbers, exit 4.
    const dry = await fix('--max-delete=5', '--dry-run');
    assert.equal(dry.code, 4, dry.stderr);
    const preview = jsonReport(dry);
    assert.equal(preview.counts.extra, 10);
    assert.deepEqual(preview.extra, Array.from({ length: 10 }, (_, i) => `${root}/svc${10 + i}`).sort());
    assert.deepEqual(preview.missing, [`${root}/created-while-refused`]);
    assert.deepEqual({ ...preview.guard, owned: undefined }, { wouldDelete: 10, creates: null, limit: 5, owned: undefined });
    const text = await runCli(['fix', ...flags.filter((f) => f !== '--output=json'), '--max-delete=5', '--dry-run']);
    assert.equal(text.code, 4, text.stderr);
    assert.match(text.stdout, /^extra:\n(  .*\n){10}/m);
    assert.match(text.stdout, /^deletion guard: a fix would be refused: 10 of our \d+ keys to delete \(limit 5, --max-delete\)/m);
    assert.equal(await etcd.get(`${root}/svc15`).string(), 'v15', 'a dry run deletes nothing');
    const forced = await fix('--max-delete=5', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(jsonReport(forced).applied.delete, 10);
    assert.equal(await etcd.get(`${root}/svc15`).string(), null);
    assert.equal(await etcd.get(`${root}/created-while-refused`).string(), 'new');
    await zk.remove(`${root}/created-while-refused`);
    assert.equal((await fix()).code, 0);
  });

  test('Redis unreachable: exit 1 and etcd unchanged', async () => {
    await zk.create(`${root}/while-redis-down`, Buffer.from('x'));
    await zk.remove(`${root}/svc5`);
    const before = await etcdDump(etcd, root);
    const r = await runCli(['fix', ...flags, `--pushgateway-url=${servers.pushgateway}`], { ZK2ETCD_REDIS_SERVER: '127.0.0.1:1' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ownership store/);
    const pushed = (await (await fetch(`${servers.pushgateway}/metrics`)).text()).split('\n').filter((l) => l.includes(`instance="${instance}"`) && l.includes('command="fix"'));
    await fetch(`${servers.pushgateway}/metrics/job/zk2etcd/instance/${instance}/command/fix`, { method: 'DELETE' });
    assert.ok(pushed.some((l) => /^zk2etcd_ownership_errors_total\{.*\} 1$/.test(l)), pushed.join('\n'));
    assert.doesNotMatch(r.stderr, /"stack"|\n\s+at /, 'a known failure is logged without a stack trace');
    assert.match(r.stderr, /"errorClass":"ownership_unavailable"/);
    assert.deepEqual(await etcdDump(etcd, root), before);
    await zk.remove(`${root}/while-redis-down`);
    await zk.create(`${root}/svc5`, Buffer.from('v5'));
  });

  test('a nonexistent ZooKeeper prefix is an error, not a mass delete', async () => {
    const before = await etcdDump(etcd, root);
    const missingRoot = `/${freshName('absent')}`;
    await etcd.put(`${missingRoot}/k`).value('v');
    await redis.hset(hash, `${missingRoot}/k`, 'pending');
    const r = await runCli(['fix', `--zookeeper-prefix=${missingRoot}`, `--instance=${instance}`, '--output=json']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not exist.*--allow-empty-source/);
    assert.equal(jsonReport(r).error.class, 'source_missing');
    assert.equal(await etcd.get(`${missingRoot}/k`).string(), 'v');
    assert.deepEqual(await etcdDump(etcd, root), before);
    // Allowed explicitly, the absent tree is empty: our key is extra, and the guard still applies.
    const allowed = await runCli(['fix', `--zookeeper-prefix=${missingRoot}`, `--instance=${instance}`, '--allow-empty-source', '--output=json']);
    assert.equal(allowed.code, 4, allowed.stderr);
    await etcd.delete().prefix(missingRoot);
    await redis.hdel(hash, `${missingRoot}/k`);
  });

  test('zk2etcd 1.x records count as ours only with --legacy-ownership', async () => {
    const key = `${root}/legacy-owned`;
    await etcd.put(key).value('written by zk2etcd 1.x');
    await redis.set(key, '1'); // the Go tool's record: a plain key equal to the etcd key, DB 0
    assert.deepEqual(jsonReport(await diff()).extra, []);
    const d = jsonReport(await diff('--legacy-ownership'));
    assert.deepEqual(d.extra, [key]);
    const r = await fix('--legacy-ownership');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await etcd.get(key).string(), null);
    assert.equal(await redis.exists(key), 0, 'legacy record removed with the key');
  });

  test('an etcd key under the prefix that is not UTF-8 is left alone and reported in a warning', async () => {
    const odd = Buffer.concat([Buffer.from(`${root}/not-utf8-`), Buffer.from([0xff, 0xfe])]);
    await etcd.kv.put({ key: odd, value: Buffer.from('x') });
    try {
      const r = await runCli(['fix', ...flags, '--log-level=warn']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /"keys":1,"msg":"etcd keys under the prefixes that are not valid UTF-8/);
      assert.equal((await etcd.kv.range({ key: odd })).kvs.length, 1, 'kept');
    } finally {
      await etcd.kv.deleteRange({ key: odd });
    }
  });

  test('reconcile pushes its metrics to a real Pushgateway; each run replaces the last, a failed one keeps the last success', async () => {
    const group = `${servers.pushgateway}/metrics/job/zk2etcd/instance/${instance}/command/reconcile`;
    const reconcile = (prefix = root, ...extra: string[]) =>
      // The shared exclude (under `root`) goes with the prefix: another prefix takes none.
      runCli(['reconcile', ...flags.filter((f) => !f.startsWith('--zookeeper-prefix=') && (prefix === root || !f.startsWith('--zookeeper-exclude-prefix='))), `--zookeeper-prefix=${prefix}`, `--pushgateway-url=${servers.pushgateway}`, ...extra]);
    const pushed = async (): Promise<string[]> => {
      const text = await (await fetch(`${servers.pushgateway}/metrics`)).text();
      return text.split('\n').filter((l) => l.includes(`instance="${instance}"`) && l.includes('command="reconcile"'));
    };
    const value = (lines: string[], re: RegExp): string | undefined => lines.find((l) => re.test(l))?.split(' ').pop();
    try {
      await zk.create(`${root}/pushed`, Buffer.from('p'));
      const r = await reconcile();
      assert.equal(r.code, 0, r.stderr);
      let mine = await pushed();
      assert.equal(value(mine, /^zk2etcd_fixed_total\{.*type="put"/), '1', mine.join('\n'));
      assert.equal(value(mine, /^zk2etcd_applied_total\{.*type="put"/), '1');
      assert.equal(value(mine, /^zk2etcd_etcd_op_total\{.*op="put".*status="success"/), '1', 'the key put, as 1.x boards count writes');
      assert.ok(mine.some((l) => /^zk2etcd_etcd_op_total\{.*op="txn".*status="success"/.test(l)));
      assert.ok(mine.some((l) => /^zk2etcd_etcd_op_total\{.*op="list".*status="success"/.test(l)), 'the paged reads, 1.x\'s "list"');
      assert.equal(value(mine, /^zk2etcd_conflicts_total\{/), '1', 'the key another writer rewrote is counted as a conflict');
      // The walk's reads: one multiRead per batch on ZooKeeper 3.6+ (the fast path), one get per node otherwise.
      assert.ok(mine.some((l) => /^zk2etcd_zk_op_total\{.*op="(get|multi_read)".*status="success"/.test(l)), mine.join('\n'));
      const lastSuccess = value(mine, /^zk2etcd_last_success_timestamp_seconds\{.*result="success"/);
      assert.ok(lastSuccess);

      const inSync = await reconcile();
      assert.equal(inSync.code, 0, inSync.stderr);
      mine = await pushed();
      assert.equal(value(mine, /^zk2etcd_fixed_total\{.*type="put"/), '0', 'an in-sync run fixed nothing: not the previous run\'s 1');
      assert.equal(value(mine, /^zk2etcd_etcd_op_total\{.*op="put"/), undefined, 'no write: no put series left from the previous run');
      const secondSuccess = value(mine, /^zk2etcd_last_success_timestamp_seconds\{.*result="success"/);
      assert.ok(Number(secondSuccess) >= Number(lastSuccess));

      const failed = await reconcile(`${root}-missing`);
      assert.equal(failed.code, 1, failed.stderr);
      mine = await pushed();
      assert.equal(value(mine, /^zk2etcd_last_success_timestamp_seconds\{/), secondSuccess, 'a failed run keeps the last success');
      assert.equal(value(mine, /^zk2etcd_zk_nodes\{/), undefined, 'a failed run pushes no tree size (unknown, not 0)');
      assert.equal(value(mine, /^zk2etcd_fixed_total\{.*type="put"/), '0');

      // Refused by the guard (exit 4): what it read is reported, with its real duration.
      await zk.remove(`${root}/pushed`);
      const refused = await reconcile(root, '--max-delete=0');
      assert.equal(refused.code, 4, refused.stderr);
      mine = await pushed();
      assert.equal(value(mine, /^zk2etcd_differences\{.*kind="extra"/), '1');
      assert.ok(Number(value(mine, /^zk2etcd_zk_nodes\{/)) > 0);
      assert.ok(Number(value(mine, /^zk2etcd_reconcile_duration_seconds\{/)) > 0, mine.join('\n'));
      assert.equal(value(mine, /^zk2etcd_last_success_timestamp_seconds\{/), secondSuccess);
    } finally {
      await fetch(group, { method: 'DELETE' });
      await fetch(`${group}/result/success`, { method: 'DELETE' });
    }
  });

  test('bad configuration exits 2 with one line per problem and writes nothing', async () => {
    const before = await etcdDump(etcd, root);
    const r = await runCli(['fix', ...flags, '--concurrent=0', '--round-interval=soon']);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0] as string, /--concurrent: must be an integer from 1 to 10000/);
    assert.match(lines[1] as string, /--round-interval: must be a duration/);
    assert.deepEqual(await etcdDump(etcd, root), before);
  });
});
