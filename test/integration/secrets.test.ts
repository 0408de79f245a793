import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { aclRedis, authEtcd, authedZk, describeRun, runCliBounded, secretFile } from '../helpers/secure-servers.js';
import type { AclRedis, AuthEtcd, AuthedZk, BoundedResult } from '../helpers/secure-servers.js';
import { freshName } from '../helpers/services.js';
import { freePort } from '../helpers/watcher-process.js';
import type { Etcd3 } from 'etcd3';

/**
 * SPEC §7 / README "Flags": secrets come from files or the environment and never appear in logs,
 * errors or --help, not even at --log-level=debug and not in failing runs. Every server here really
 * checks its secret (a private etcd with auth, a private Redis with an ACL user, digest-protected
 * znodes), so the successful runs prove the secrets were read and used.
 */
describe('secrets never appear in output', () => {
  const name = freshName('sec-secrets');
  const root = `/${name}`;
  const instance = name;
  const tag = randomBytes(6).toString('hex');
  // Distinctive values: any occurrence in output is a leak.
  const ETCD_SECRET = `etcdSecret-${tag}-Q7`;
  const REDIS_SECRET = `redisSecret-${tag}-K9`;
  const ZK_SECRET = `zkSecret-${tag}-P3`;
  const TOKEN_SECRET = `adminToken-${tag}-T1`;
  const WRONG_ETCD = `wrongEtcd-${tag}-W1`;
  const WRONG_REDIS = `wrongRedis-${tag}-W2`;
  const WRONG_ZK = `wrongZk-${tag}-W3`;
  const ALL = [ETCD_SECRET, REDIS_SECRET, ZK_SECRET, TOKEN_SECRET, WRONG_ETCD, WRONG_REDIS, WRONG_ZK];
  const zkAuth = `zk2etcd:${ZK_SECRET}`;
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-secrets-'));
  const files = {
    etcd: secretFile(dir, 'etcd-password', ETCD_SECRET),
    redis: secretFile(dir, 'redis-password', REDIS_SECRET),
    zk: secretFile(dir, 'zookeeper-auth', zkAuth),
    token: secretFile(dir, 'admin-token', TOKEN_SECRET),
    wrongEtcd: secretFile(dir, 'etcd-password-wrong', WRONG_ETCD),
    wrongRedis: secretFile(dir, 'redis-password-wrong', WRONG_REDIS),
    wrongZk: secretFile(dir, 'zookeeper-auth-wrong', `zk2etcd:${WRONG_ZK}`),
  };
  let etcd: AuthEtcd;
  let etcdRoot: Etcd3;
  let redis: AclRedis;
  let zk: AuthedZk;
  let closedPort: number;

  /** Server addresses and users for the private servers; the secret flags are added per run. */
  const base = (servers: { etcd?: string; redis?: string; zk?: string } = {}) => [
    `--etcd-servers=${servers.etcd ?? etcd.address}`,
    '--etcd-username=zk2etcd',
    `--redis-server=${servers.redis ?? redis.address}`,
    ...(servers.zk ? [`--zookeeper-servers=${servers.zk}`] : []),
    '--redis-username=zk2etcd',
    `--zookeeper-prefix=${root}`,
    '--zookeeper-exclude-prefix=',
    `--instance=${instance}`,
    '--log-level=debug',
  ];
  const fileFlags = (f = files) => [`--etcd-password-file=${f.etcd}`, `--redis-password-file=${f.redis}`, `--zookeeper-auth-file=${f.zk}`];
  const secretEnv = { ZK2ETCD_ETCD_PASSWORD: ETCD_SECRET, ZK2ETCD_REDIS_PASSWORD: REDIS_SECRET, ZK2ETCD_ZOOKEEPER_AUTH: zkAuth };

  function assertNoSecret(r: BoundedResult, label: string): void {
    assert.equal(r.timedOut, false, `${label}: hung: ${describeRun(r)}`);
    for (const s of ALL) {
      assert.ok(!r.stdout.includes(s), `${label}: stdout shows a secret (${s.split('-')[0]}): ${r.stdout.slice(0, 2000)}`);
      assert.ok(!r.stderr.includes(s), `${label}: stderr shows a secret (${s.split('-')[0]}): ${r.stderr.slice(0, 2000)}`);
    }
  }

  before(async () => {
    etcd = await authEtcd({ user: 'zk2etcd', password: ETCD_SECRET, prefix: root, rootPassword: `root-${tag}` });
    etcdRoot = etcd.rootClient();
    redis = await aclRedis({ adminPassword: `admin-${tag}`, users: [{ name: 'zk2etcd', password: REDIS_SECRET, rules: '~zk2etcd:* +@all' }] });
    zk = await authedZk(zkAuth);
    await zk.create(root, Buffer.from('root'));
    await zk.create(`${root}/protected`, Buffer.from('needs digest auth'));
    await zk.restrict(`${root}/protected`, zkAuth);
    closedPort = await freePort();
  });

  after(async () => {
    await zk?.removeTree(root);
    zk?.close();
    etcdRoot?.close();
    await etcd?.cleanup();
    await redis?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('successful runs at debug level: secrets from files and from the environment are used, not shown', { timeout: 60_000 }, async () => {
    const fix = await runCliBounded(['fix', ...base(), ...fileFlags()], {}, 30_000);
    assert.equal(fix.code, 0, describeRun(fix));
    assertNoSecret(fix, 'fix with secret files');
    assert.match(fix.stderr, /"level":"debug"/, 'debug logging was on');
    assert.equal((await etcdRoot.get(`${root}/protected`).string()), 'needs digest auth', 'all three secrets worked');

    const diff = await runCliBounded(['diff', ...base()], secretEnv, 30_000);
    assert.equal(diff.code, 0, describeRun(diff));
    assertNoSecret(diff, 'diff with secrets in the environment');
    const json = await runCliBounded(['diff', ...base(), ...fileFlags(), '--output=json'], {}, 30_000);
    assert.equal(json.code, 0, describeRun(json));
    assertNoSecret(json, 'diff --output json');
  });

  test('failing runs (unreachable servers) at debug level show no secret', { timeout: 90_000 }, async () => {
    const dead = `127.0.0.1:${closedPort}`;
    const runs: [string, Promise<BoundedResult>][] = [
      ['etcd unreachable, secret files', runCliBounded(['diff', ...base({ etcd: `http://${dead}` }), ...fileFlags()], {}, 60_000)],
      ['redis unreachable, secret files', runCliBounded(['diff', ...base({ redis: dead }), ...fileFlags()], {}, 60_000)],
      ['zookeeper unreachable, secret files', runCliBounded(['diff', ...base({ zk: dead }), ...fileFlags(), '--zookeeper-session-timeout=2s'], {}, 60_000)],
      ['etcd unreachable, secrets in env', runCliBounded(['fix', ...base({ etcd: `http://${dead}` })], secretEnv, 60_000)],
      ['redis unreachable, secrets in env', runCliBounded(['fix', ...base({ redis: dead })], secretEnv, 60_000)],
    ];
    for (const [label, run] of runs) {
      const r = await run;
      assert.equal(r.code, 1, `${label}: ${describeRun(r)}`);
      assertNoSecret(r, label);
    }
  });

  test('failing runs (wrong secrets) show neither the right nor the wrong secret', { timeout: 90_000 }, async () => {
    const runs: [string, Promise<BoundedResult>][] = [
      ['wrong etcd password', runCliBounded(['fix', ...base(), ...fileFlags({ ...files, etcd: files.wrongEtcd })], {}, 30_000)],
      ['wrong redis password', runCliBounded(['fix', ...base(), ...fileFlags({ ...files, redis: files.wrongRedis })], {}, 30_000)],
      ['wrong zookeeper password', runCliBounded(['fix', ...base(), ...fileFlags({ ...files, zk: files.wrongZk })], {}, 30_000)],
      ['wrong etcd password in env', runCliBounded(['diff', ...base()], { ...secretEnv, ZK2ETCD_ETCD_PASSWORD: WRONG_ETCD }, 30_000)],
      ['wrong redis password in env', runCliBounded(['diff', ...base()], { ...secretEnv, ZK2ETCD_REDIS_PASSWORD: WRONG_REDIS }, 30_000)],
    ];
    for (const [label, run] of runs) {
      const r = await run;
      assert.equal(r.code, 1, `${label}: ${describeRun(r)}`);
      assertNoSecret(r, label);
    }
  });

  test('a secret given both directly and as a file in the same place is exit 2, naming the flags, not the value', async () => {
    const cases: [string, string[], Record<string, string>][] = [
      ['redis-password', [`--redis-password=${REDIS_SECRET}`, `--redis-password-file=${files.redis}`], {}],
      ['etcd-password', [`--etcd-password=${ETCD_SECRET}`, `--etcd-password-file=${files.etcd}`], {}],
      ['zookeeper-auth', [`--zookeeper-auth=${zkAuth}`, `--zookeeper-auth-file=${files.zk}`], {}],
      ['admin-token', [`--admin-token=${TOKEN_SECRET}`, `--admin-token-file=${files.token}`], {}],
      ['redis-password', [], { ZK2ETCD_REDIS_PASSWORD: REDIS_SECRET, ZK2ETCD_REDIS_PASSWORD_FILE: files.redis }],
      ['etcd-password', [], { ZK2ETCD_ETCD_PASSWORD: ETCD_SECRET, ZK2ETCD_ETCD_PASSWORD_FILE: files.etcd }],
    ];
    for (const [flag, args, env] of cases) {
      for (const command of ['diff', 'fix']) {
        const r = await runCliBounded([command, ...base(), ...args], env, 15_000);
        const label = `${command} ${flag} twice (${args.length} flags, env ${Object.keys(env).join(',') || 'none'})`;
        assert.equal(r.code, 2, `${label}: ${describeRun(r)}`);
        assert.ok(r.stderr.includes(`--${flag} and --${flag}-file: set only one`), `${label}: ${r.stderr}`);
        assertNoSecret(r, label);
      }
    }
  });

  test('--help shows no secret value, whether the secret is in the environment or on the command line', async () => {
    const env = { ...secretEnv, ZK2ETCD_ADMIN_TOKEN: TOKEN_SECRET };
    for (const command of ['diff', 'fix', 'reconcile', 'sync']) {
      for (const args of [['--help'], [`--redis-password=${REDIS_SECRET}`, `--etcd-password=${ETCD_SECRET}`, `--zookeeper-auth=${zkAuth}`, `--admin-token=${TOKEN_SECRET}`, '--help'], ['-h', ...fileFlags()]]) {
        const r = await runCliBounded([command, ...args], env, 15_000);
        assert.equal(r.code, 0, `${command} ${args.join(' ')}: ${describeRun(r)}`);
        assertNoSecret(r, `${command} --help`);
        for (const flag of ['--redis-password-file', '--etcd-password-file', '--zookeeper-auth-file', '--admin-token-file']) {
          // --admin-token is the watcher's alone: the one-shot commands' help leaves it out.
          const listed = flag !== '--admin-token-file' || command === 'sync';
          assert.equal(r.stdout.includes(flag), listed, `${command} --help ${listed ? 'lists' : 'leaves out'} ${flag}`);
        }
      }
    }
    const top = await runCliBounded(['--help'], env, 15_000);
    assert.equal(top.code, 0);
    assertNoSecret(top, 'zk2etcd --help');
  });

  test('misspelled secret flags, config files and URLs with credentials: exit 2 without echoing the secret', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `redis-password: ${REDIS_SECRET}\netcd-password: ${ETCD_SECRET}\nconcurrent: not-a-number\nredis-pasword: ${WRONG_REDIS}\n`);
    const cases: [string, string[]][] = [
      ['misspelled flag, separate value', [...base(), '--redis-pasword', REDIS_SECRET]],
      ['misspelled flag, = value', [...base(), `--etcd-pasword=${ETCD_SECRET}`]],
      ['malformed zookeeper auth', [...base(), `--zookeeper-auth=${ZK_SECRET}`]],
      ['config file with secrets and a bad value', [...base(), `--config=${config}`]],
      ['credentials in a Redis URL without a port', [...base({ redis: `redis://zk2etcd:${REDIS_SECRET}@127.0.0.1/0` })]],
      ['credentials in a Redis URL with a bad DB', [...base({ redis: `redis://zk2etcd:${REDIS_SECRET}@127.0.0.1:6379/x` })]],
      ['credentials in a Redis URL', [...base({ redis: `rediss://zk2etcd:${REDIS_SECRET}@127.0.0.1:6379` })]],
      ['credentials in an etcd URL without a port', [...base({ etcd: `https://root:${ETCD_SECRET}@127.0.0.1` })]],
    ];
    const leaks: string[] = [];
    for (const [label, args] of cases) {
      const r = await runCliBounded(['diff', ...args], {}, 15_000);
      assert.equal(r.code, 2, `${label}: ${describeRun(r)}`);
      try {
        assertNoSecret(r, label);
      } catch (err) {
        leaks.push((err as Error).message);
      }
    }
    assert.deepEqual(leaks, [], `secrets echoed in ${leaks.length} of ${cases.length} cases:\n${leaks.join('\n')}`);
  });

  test('zk2etcd log with --admin-token-file against a dead watcher: exit 1, no token shown', async () => {
    const r = await runCliBounded(['log', '--level', 'debug', '--addr', `http://127.0.0.1:${closedPort}`, `--admin-token-file=${files.token}`], {}, 15_000);
    assert.equal(r.code, 1, describeRun(r));
    assertNoSecret(r, 'log command');
  });
});
