import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseArgv } from '../../common/config/argv.js';
import { parseDuration } from '../../common/config/duration.js';
import { FLAG_BY_NAME } from '../../common/config/flags.js';
import { loadConfig } from '../../common/config/load.js';
import type { Command, Config } from '../../common/config/types.js';
import { ConfigError } from '../../common/errors.js';
import { generatePki } from '../helpers/tls.js';

/** One loader for flags, environment and config file (SPEC §7). */

// Real PEM files (openssl, once per file): the loader checks that the TLS files hold what their flags say.
const pki = generatePki('config-test');
after(() => pki.cleanup());
const PEM = {
  ca: pki.read(pki.caCert),
  caTrusted: pki.read(pki.caTrustedCert),
  certTrusted: pki.read(pki.clientTrustedCert),
  cert: pki.read(pki.clientCert),
  key: pki.read(pki.clientKey),
  otherKey: pki.read(pki.serverKey),
  // The test PKI's keys are EC: an RSA key is a key of another type.
  rsaKey: Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' })),
};

const REQUIRED = ['--zookeeper-servers=zk1:2181,zk2:2181', '--etcd-servers=http://etcd:2379', '--redis-server=redis:6379'];
const SECRET = 'S3cr3t-Hunter2!';

type Files = Record<string, string | Buffer>;

/** A fake filesystem: serves the given files, ENOENT for anything else. */
function fakeReadFile(files: Files): (path: string) => Buffer {
  const map = new Map(Object.entries(files).map(([p, v]) => [p, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
  return (path) => {
    const data = map.get(path);
    if (data === undefined) {
      const err = new Error(`ENOENT: no such file or directory, open '${path}'`) as NodeJS.ErrnoException;
      err.code = 'ENOENT';
      throw err;
    }
    return data;
  };
}

interface LoadArgs {
  argv?: string[];
  env?: Record<string, string>;
  files?: Files;
  command?: Command;
  /** Leave out the three required flags. */
  bare?: boolean;
}
/** The command a test's flags belong to, unless it names one: sync when it passes a flag only the watcher uses. */
const commandFor = (a: LoadArgs): Command =>
  a.command ?? ((a.argv ?? []).some((arg) => FLAG_BY_NAME.get(arg.replace(/^--/, '').split('=')[0] as string)?.only === 'sync') ? 'sync' : 'diff');
function load(a: LoadArgs = {}): Config {
  return loadConfig({
    command: commandFor(a),
    argv: [...(a.bare ? [] : REQUIRED), ...(a.argv ?? [])],
    env: a.env ?? {},
    readFile: fakeReadFile(a.files ?? {}),
  });
}
/** The problems of the ConfigError that loading must throw. */
function problemsOf(a: LoadArgs): readonly string[] {
  try {
    load(a);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.message, err.problems.join('\n'));
    return err.problems;
  }
  assert.fail('expected loadConfig to throw a ConfigError');
}

describe('loadConfig: defaults', () => {
  const config = load();
  const cases: { name: string; actual: unknown; expected: unknown }[] = [
    { name: 'zookeeper servers are split on commas', actual: config.zookeeper.servers, expected: ['zk1:2181', 'zk2:2181'] },
    { name: 'etcd endpoints', actual: config.etcd.endpoints, expected: ['http://etcd:2379'] },
    { name: 'prefix /dubbo', actual: config.zookeeper.prefixes, expected: ['/dubbo'] },
    { name: 'exclude /dubbo/config', actual: config.zookeeper.excludes, expected: ['/dubbo/config'] },
    { name: 'etcd prefix empty', actual: config.etcd.prefix, expected: '' },
    { name: 'concurrent 50', actual: config.concurrent, expected: 50 },
    { name: 'max round 1', actual: config.maxRound, expected: 1 },
    { name: 'round interval 3s', actual: config.roundIntervalMs, expected: 3000 },
    { name: 'max delete 50%', actual: config.maxDelete, expected: { kind: 'percent', value: 50 } },
    { name: 'output text', actual: config.output, expected: 'text' },
    { name: 'session timeout 30s', actual: config.zookeeper.sessionTimeoutMs, expected: 30_000 },
    { name: 'instance default', actual: config.instance, expected: 'default' },
    { name: 'force off', actual: config.force, expected: false },
    { name: 'dry run off', actual: config.dryRun, expected: false },
    { name: 'ephemeral nodes synced', actual: config.zookeeper.skipEphemeral, expected: false },
    { name: 'full sync every 5m', actual: config.fullSync, expected: { kind: 'interval', ms: 300_000 } },
    { name: 'no secrets', actual: [config.redis.password, config.etcd.password, config.adminToken, config.zookeeper.auth], expected: [null, null, null, null] },
    { name: 'no etcd TLS', actual: config.etcd.tls, expected: null },
    { name: 'leader election none outside Kubernetes', actual: config.leaderElect, expected: 'none' },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(c.actual, c.expected));
  }

  test('leader election kubernetes when KUBERNETES_SERVICE_HOST is set', () => {
    assert.equal(load({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' } }).leaderElect, 'kubernetes');
  });

  test('an explicit --leader-elect wins over the in-cluster default', () => {
    assert.equal(load({ argv: ['--leader-elect=etcd'], env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' } }).leaderElect, 'etcd');
  });

  test("zk2etcd 1.x's boolean --leader-elect keeps its meaning: true is a Kubernetes Lease, false none", () => {
    const sync = (v: string) => load({ command: 'sync', argv: [`--leader-elect=${v}`] }).leaderElect;
    assert.deepEqual(
      ['true', 'false', 'TRUE', '1', '0', 'kubernetes', 'etcd', 'none'].map(sync),
      ['kubernetes', 'none', 'kubernetes', 'kubernetes', 'none', 'kubernetes', 'etcd', 'none'],
    );
    assert.equal(load({ command: 'sync', argv: ['--leader-elect'] }).leaderElect, 'kubernetes', "1.x's bare flag");
    assert.equal(load({ command: 'sync', argv: ['--leader-elect', '--lease-name=x'] }).leaderElect, 'kubernetes', 'bare, followed by another flag');
    assert.equal(load({ command: 'sync', argv: ['--leader-elect', 'etcd'] }).leaderElect, 'etcd', 'a value after a space is still its value');
    assert.throws(() => load({ command: 'sync', argv: ['--leader-elect=maybe'] }), /--leader-elect: must be one of kubernetes, etcd, none \(or 1.x's true and false\)/);
    assert.deepEqual(load({ command: 'diff', env: { ZK2ETCD_LEADER_ELECT: 'true' } }).command, 'diff', 'a 1.x value in a shared ConfigMap does not break the one-shot commands');
  });

  const wrongCommand: { name: string; args: LoadArgs; problem: string | null }[] = [
    { name: 'sync --dry-run', args: { command: 'sync', argv: ['--dry-run'] }, problem: '--dry-run: sync always writes (from --dry-run); preview with zk2etcd diff or zk2etcd fix --dry-run' },
    { name: 'sync with ZK2ETCD_DRY_RUN=true', args: { command: 'sync', env: { ZK2ETCD_DRY_RUN: 'true' } }, problem: '--dry-run: sync always writes (from ZK2ETCD_DRY_RUN); preview with zk2etcd diff or zk2etcd fix --dry-run' },
    { name: 'sync --dry-run=false', args: { command: 'sync', argv: ['--dry-run=false'] }, problem: null },
    { name: 'sync --output=json', args: { command: 'sync', argv: ['--output=json'] }, problem: '--output: zk2etcd sync does not use it (diff, fix and reconcile do)' },
    { name: 'sync --pushgateway-url', args: { command: 'sync', argv: ['--pushgateway-url=http://pgw:9091'] }, problem: '--pushgateway-url: zk2etcd sync does not use it (diff, fix and reconcile do)' },
    { name: 'sync with ZK2ETCD_OUTPUT (a ConfigMap shared with the CronJob)', args: { command: 'sync', env: { ZK2ETCD_OUTPUT: 'json' } }, problem: null },
    { name: 'diff --http-addr', args: { command: 'diff', argv: ['--http-addr=:9090'] }, problem: '--http-addr: only zk2etcd sync uses it, not diff' },
    { name: 'fix --admin-token-file', args: { command: 'fix', argv: ['--admin-token-file=/t'], files: { '/t': 'x' } }, problem: '--admin-token-file: only zk2etcd sync uses it, not fix' },
    { name: 'reconcile with ZK2ETCD_FULLSYNC_INTERVAL', args: { command: 'reconcile', env: { ZK2ETCD_FULLSYNC_INTERVAL: '1m' } }, problem: null },
    { name: 'reconcile --pushgateway-url', args: { command: 'reconcile', argv: ['--pushgateway-url=http://pgw:9091'] }, problem: null },
    { name: 'sync --fullsync-interval', args: { command: 'sync', argv: ['--fullsync-interval=1m'] }, problem: null },
  ];
  for (const c of wrongCommand) {
    test(`a flag for another command: ${c.name}`, () => {
      if (c.problem === null) assert.doesNotThrow(() => load(c.args));
      else assert.deepEqual(problemsOf(c.args), [c.problem]);
    });
  }

  test('the fix command implies fix; diff does not', () => {
    assert.equal(load({ command: 'fix' }).fix, true);
    assert.equal(load({ command: 'diff' }).fix, false);
    assert.equal(load({ command: 'diff', argv: ['--fix'] }).fix, true);
  });
});

describe('loadConfig: precedence flag > env > config file > default', () => {
  const FILE = '/etc/zk2etcd.yaml';
  const cases: { name: string; flag?: string; env?: string; file?: string; expected: number }[] = [
    { name: 'default alone', expected: 50 },
    { name: 'config file over default', file: '10', expected: 10 },
    { name: 'env over config file', env: '20', file: '10', expected: 20 },
    { name: 'flag over env and config file', flag: '30', env: '20', file: '10', expected: 30 },
    { name: 'flag over config file', flag: '30', file: '10', expected: 30 },
    { name: 'flag over env', flag: '30', env: '20', expected: 30 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const argv = [`--config=${FILE}`];
      if (c.flag !== undefined) argv.push(`--concurrent=${c.flag}`);
      const env: Record<string, string> = c.env !== undefined ? { ZK2ETCD_CONCURRENT: c.env } : {};
      const files = { [FILE]: c.file !== undefined ? `concurrent: ${c.file}\n` : '' };
      assert.equal(load({ argv, env, files }).concurrent, c.expected);
    });
  }

  test('env names are ZK2ETCD_ + upper snake case', () => {
    const config = load({
      bare: true,
      env: {
        ZK2ETCD_ZOOKEEPER_SERVERS: 'zk:2181',
        ZK2ETCD_ETCD_SERVERS: 'etcd:2379',
        ZK2ETCD_REDIS_SERVER: 'redis:6379',
        ZK2ETCD_ZOOKEEPER_EXCLUDE_PREFIX: '',
        ZK2ETCD_MAX_DELETE: '100',
        ZK2ETCD_DRY_RUN: 'true',
      },
    });
    assert.deepEqual(config.zookeeper.servers, ['zk:2181']);
    assert.deepEqual(config.zookeeper.excludes, []);
    assert.deepEqual(config.maxDelete, { kind: 'count', value: 100 });
    assert.equal(config.dryRun, true);
  });

  test('config file: keys are flag names, lists and booleans allowed, path from ZK2ETCD_CONFIG', () => {
    const yaml = [
      'zookeeper-servers: [zk1:2181, zk2:2181]',
      'etcd-servers:',
      '  - https://etcd1:2379',
      '  - https://etcd2:2379',
      'redis-server: rediss://redis:6380/2',
      'zookeeper-prefix: [/dubbo, /services]',
      'zookeeper-exclude-prefix: []',
      'force: true',
      'max-round: 3',
      'round-interval: 500ms',
      '',
    ].join('\n');
    const config = load({ bare: true, env: { ZK2ETCD_CONFIG: '/cfg.yaml' }, files: { '/cfg.yaml': yaml } });
    assert.deepEqual(config.zookeeper.servers, ['zk1:2181', 'zk2:2181']);
    assert.deepEqual(config.etcd.endpoints, ['https://etcd1:2379', 'https://etcd2:2379']);
    assert.equal(config.redis.tls, true);
    assert.deepEqual(config.zookeeper.prefixes, ['/dubbo', '/services']);
    assert.deepEqual(config.zookeeper.excludes, []);
    assert.equal(config.force, true);
    assert.equal(config.maxRound, 3);
    assert.equal(config.roundIntervalMs, 500);
  });

  // YAML's core schema reads plain 07001234 as the number 7001234: the instance (the Redis namespace) or a
  // token would then differ from the same text given as a flag or in the environment.
  const asWritten: { name: string; line: string; pick: (c: Config) => unknown; expected: unknown }[] = [
    { name: 'a number-like instance keeps its leading zero', line: 'instance: 07001234', pick: (c) => c.instance, expected: '07001234' },
    { name: 'a hex-looking token stays text', line: 'admin-token: 0x1F', pick: (c) => c.adminToken, expected: '0x1F' },
    { name: 'an exponent-looking instance stays text', line: 'instance: 1e5', pick: (c) => c.instance, expected: '1e5' },
    { name: 'a trailing zero stays', line: 'instance: "1.10"', pick: (c) => c.instance, expected: '1.10' },
    { name: 'a plain trailing zero stays', line: 'instance: 1.10', pick: (c) => c.instance, expected: '1.10' },
    { name: 'digits past 2^53 stay exact', line: 'instance: 123456789012345678901234', pick: (c) => c.instance, expected: '123456789012345678901234' },
    { name: 'an octal-looking list item stays text', line: 'zookeeper-prefix: [/a, /010]', pick: (c) => c.zookeeper.prefixes, expected: ['/a', '/010'] },
    { name: 'an empty value is empty', line: 'etcd-prefix:', pick: (c) => c.etcd.prefix, expected: '' },
    { name: 'null is empty', line: 'etcd-prefix: ~', pick: (c) => c.etcd.prefix, expected: '' },
    { name: 'a quoted "null" is that text', line: 'instance: "null"', pick: (c) => c.instance, expected: 'null' },
    { name: 'JSON: a number is its text', line: '{"concurrent": 050}', pick: (c) => c.concurrent, expected: 50 },
    { name: 'an alias is its anchored value, as written', line: 'etcd-prefix: &p 0x10\ninstance: *p', pick: (c) => c.instance, expected: '0x10' },
    { name: 'an alias inside a list', line: 'etcd-prefix: &p /010\nzookeeper-prefix: [/a, *p]', pick: (c) => c.zookeeper.prefixes, expected: ['/a', '/010'] },
  ];
  for (const c of asWritten) {
    test(`config file values as written: ${c.name}`, () => {
      const config = load({ argv: ['--config=/c.yaml'], files: { '/c.yaml': `${c.line}\n` } });
      assert.deepEqual(c.pick(config), c.expected);
    });
  }

  test('config file: a nested mapping is a problem naming the key', () => {
    const problems = problemsOf({ argv: ['--config=/c.yaml'], files: { '/c.yaml': 'zookeeper-prefix: [/a, {b: c}]\ninstance: {x: 1}\n' } });
    assert.deepEqual(problems, ['--config: /c.yaml: key "zookeeper-prefix" must be a scalar or a list of scalars', '--config: /c.yaml: key "instance" must be a scalar or a list']);
  });

  test('config file: a duplicate key is a problem', () => {
    const [problem] = problemsOf({ argv: ['--config=/c.yaml'], files: { '/c.yaml': 'instance: a\ninstance: b\n' } });
    assert.match(problem as string, /^--config: cannot read \/c.yaml: .*[Dd]uplicate|unique/);
  });
});

describe('loadConfig: values', () => {
  const durations: { name: string; value: string; expected: number }[] = [
    { name: '500ms', value: '500ms', expected: 500 },
    { name: '30s', value: '30s', expected: 30_000 },
    { name: '5m', value: '5m', expected: 300_000 },
    { name: '1h', value: '1h', expected: 3_600_000 },
  ];
  for (const c of durations) {
    test(`--round-interval=${c.name}`, () => assert.equal(load({ argv: [`--round-interval=${c.value}`] }).roundIntervalMs, c.expected));
  }

  const booleans: { name: string; argv: string[]; env?: Record<string, string>; expected: boolean }[] = [
    { name: 'bare --force', argv: ['--force'], expected: true },
    { name: '--force=true', argv: ['--force=true'], expected: true },
    { name: '--force=false', argv: ['--force=false'], expected: false },
    { name: '--force=false beats ZK2ETCD_FORCE=true', argv: ['--force=false'], env: { ZK2ETCD_FORCE: 'true' }, expected: false },
    { name: 'ZK2ETCD_FORCE=true', argv: [], env: { ZK2ETCD_FORCE: 'true' }, expected: true },
    { name: "Go's --force=T", argv: ['--force=T'], expected: true },
    { name: "Go's ZK2ETCD_FORCE=F", argv: [], env: { ZK2ETCD_FORCE: 'F' }, expected: false },
  ];
  for (const c of booleans) {
    test(c.name, () => assert.equal(load({ argv: c.argv, env: c.env ?? {} }).force, c.expected));
  }

  const maxDeletes: { value: string; expected: unknown }[] = [
    { value: '10%', expected: { kind: 'percent', value: 10 } },
    { value: '0%', expected: { kind: 'percent', value: 0 } },
    { value: '100%', expected: { kind: 'percent', value: 100 } },
    { value: '500', expected: { kind: 'count', value: 500 } },
    { value: '0', expected: { kind: 'count', value: 0 } },
  ];
  for (const c of maxDeletes) {
    test(`--max-delete=${c.value}`, () => assert.deepEqual(load({ argv: [`--max-delete=${c.value}`] }).maxDelete, c.expected));
  }

  const logLevels: { value: string; expected: string }[] = [
    { value: 'warn', expected: 'warn' },
    { value: 'DEBUG', expected: 'debug' },
    { value: 'fatal', expected: 'error' }, // the Go zk2etcd 1.x (logrus) levels
    { value: 'Panic', expected: 'error' },
  ];
  for (const c of logLevels) {
    test(`--log-level=${c.value}`, () => assert.equal(load({ argv: [`--log-level=${c.value}`] }).logLevel, c.expected));
  }

  const fullSyncs: { value: string; expected: unknown }[] = [
    { value: '0', expected: { kind: 'off' } },
    { value: '0m', expected: { kind: 'off' } },
    { value: '0ms', expected: { kind: 'off' } },
    { value: 'off', expected: { kind: 'off' } },
    { value: '1h', expected: { kind: 'interval', ms: 3_600_000 } },
    { value: '24h', expected: { kind: 'interval', ms: 86_400_000 } },
    { value: '*/5 * * * *', expected: { kind: 'cron', expression: '*/5 * * * *' } },
    { value: '@daily', expected: { kind: 'cron', expression: '@daily' } },
  ];
  for (const c of fullSyncs) {
    test(`--fullsync-interval=${c.value}`, () => assert.deepEqual(load({ argv: [`--fullsync-interval=${c.value}`] }).fullSync, c.expected));
  }

  test("a ZooKeeper server without a port gets 2181, as in zk2etcd 1.x's client", () => {
    const config = load({ bare: true, argv: ['--zookeeper-servers=zk-0.zk.svc,10.0.0.2,zk-2:2182', '--etcd-servers=etcd:2379', '--redis-server=redis:6379'] });
    assert.deepEqual(config.zookeeper.servers, ['zk-0.zk.svc:2181', '10.0.0.2:2181', 'zk-2:2182']);
  });

  test('an empty value of a setting without a default is unset (ZK2ETCD_PUSHGATEWAY_URL= in a manifest)', () => {
    const env = { ZK2ETCD_PUSHGATEWAY_URL: '', ZK2ETCD_ETCD_USERNAME: '', ZK2ETCD_ETCD_CACERT: '' };
    const config = load({ env });
    assert.deepEqual([config.pushgatewayUrl, config.etcd.username, config.etcd.tls], [null, null, null]);
    const watcher = load({ command: 'sync', env: { ZK2ETCD_LEADER_ELECT: '', ZK2ETCD_LEASE_NAMESPACE: '' } });
    assert.deepEqual([watcher.leaderElect, watcher.leaseNamespace], ['none', null]);
  });

  test('--fix=true on diff fixes; --fix=false is what diff does anyway', () => {
    assert.deepEqual([load({ argv: ['--fix'] }).fix, load({ argv: ['--fix=false'] }).fix, load({ command: 'fix' }).fix], [true, false, true]);
  });

  test('ZK2ETCD_FIX=false in a ConfigMap the reconcile CronJob shares with a diff: reconcile still fixes', () => {
    assert.equal(load({ command: 'reconcile', env: { ZK2ETCD_FIX: 'false' } }).fix, true);
    assert.equal(load({ command: 'fix', files: { '/c.yaml': 'fix: false\n' }, argv: ['--config=/c.yaml'] }).fix, true);
  });

  test('a usage error remembers --output json, when that setting was valid, for the JSON document', () => {
    const err = (a: LoadArgs): ConfigError => {
      try {
        load(a);
      } catch (e) {
        if (e instanceof ConfigError) return e;
      }
      throw new Error('expected a ConfigError');
    };
    assert.equal(err({ argv: ['--output=json', '--concurrent=0'] }).output, 'json');
    assert.equal(err({ env: { ZK2ETCD_OUTPUT: 'json' }, argv: ['--concurrent=0'] }).output, 'json');
    assert.equal(err({ argv: ['--concurrent=0'] }).output, 'text');
    assert.equal(err({ argv: ['--output=xml'] }).output, undefined);
  });

  test('unicode and URL-encoded prefixes are accepted as given', () => {
    const config = load({ argv: ['--zookeeper-prefix=/注册中心,/dubbo/a%2Fb', '--zookeeper-exclude-prefix='] });
    assert.deepEqual(config.zookeeper.prefixes, ['/注册中心', '/dubbo/a%2Fb']);
  });

  test('exclude /dubbo/config with prefix /dubbo/configurators is fine (segments, not strings)', () => {
    const config = load({ argv: ['--zookeeper-prefix=/dubbo/configurators'] });
    assert.deepEqual(config.zookeeper.prefixes, ['/dubbo/configurators']);
    assert.deepEqual(config.zookeeper.excludes, ['/dubbo/config']);
  });
});

describe('loadConfig: secrets', () => {
  const cases: { name: string; argv: string[]; env?: Record<string, string>; files: Files; pick: (c: Config) => unknown; expected: unknown }[] = [
    {
      name: '--redis-password-file: trailing newline stripped',
      argv: ['--redis-password-file=/run/secrets/redis'],
      files: { '/run/secrets/redis': `${SECRET}\n` },
      pick: (c) => c.redis.password,
      expected: SECRET,
    },
    {
      name: '--redis-password-file: trailing CRLF stripped',
      argv: ['--redis-password-file=/run/secrets/redis'],
      files: { '/run/secrets/redis': `${SECRET}\r\n` },
      pick: (c) => c.redis.password,
      expected: SECRET,
    },
    {
      name: '--redis-password-file: no trailing newline is kept as is',
      argv: ['--redis-password-file=/run/secrets/redis'],
      files: { '/run/secrets/redis': SECRET },
      pick: (c) => c.redis.password,
      expected: SECRET,
    },
    {
      name: 'ZK2ETCD_ETCD_PASSWORD_FILE with --etcd-username',
      argv: ['--etcd-username=root'],
      env: { ZK2ETCD_ETCD_PASSWORD_FILE: '/s/etcd' },
      files: { '/s/etcd': `${SECRET}\n` },
      pick: (c) => [c.etcd.username, c.etcd.password],
      expected: ['root', SECRET],
    },
    {
      name: '--zookeeper-auth-file',
      argv: ['--zookeeper-auth-file=/s/zk'],
      files: { '/s/zk': `user:${SECRET}\n` },
      pick: (c) => c.zookeeper.auth,
      expected: `user:${SECRET}`,
    },
    {
      name: '--admin-token-file',
      argv: ['--admin-token-file=/s/token'],
      files: { '/s/token': `${SECRET}\n` },
      pick: (c) => c.adminToken,
      expected: SECRET,
    },
    {
      name: '--redis-password given directly',
      argv: [`--redis-password=${SECRET}`],
      files: {},
      pick: (c) => c.redis.password,
      expected: SECRET,
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(c.pick(load({ argv: c.argv, env: c.env ?? {}, files: c.files })), c.expected));
  }

  test('etcd TLS files are read', () => {
    const config = load({
      argv: ['--etcd-cacert=/tls/ca.pem', '--etcd-cert=/tls/cert.pem', '--etcd-key=/tls/key.pem'],
      files: { '/tls/ca.pem': PEM.ca, '/tls/cert.pem': PEM.cert, '/tls/key.pem': PEM.key },
    });
    assert.deepEqual([config.etcd.tls?.ca, config.etcd.tls?.cert, config.etcd.tls?.key], [PEM.ca, PEM.cert, PEM.key]);
  });

  test("etcd TLS files in OpenSSL's TRUSTED CERTIFICATE form (openssl x509 -addtrust) are taken, as Node's TLS takes them", () => {
    assert.match(PEM.caTrusted.toString(), /^-----BEGIN TRUSTED CERTIFICATE-----/);
    const config = load({
      argv: ['--etcd-cacert=/tls/ca.pem', '--etcd-cert=/tls/cert.pem', '--etcd-key=/tls/key.pem'],
      files: { '/tls/ca.pem': PEM.caTrusted, '/tls/cert.pem': PEM.certTrusted, '/tls/key.pem': PEM.key },
    });
    assert.deepEqual([config.etcd.tls?.ca, config.etcd.tls?.cert], [PEM.caTrusted, PEM.certTrusted]);
  });
});

describe('loadConfig: a secret given as value and as -file: precedence flag > env > config file decides', () => {
  // Real files on disk: the loader's own readFileSync, so a file it must not open is really there (or really missing).
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-config-secrets-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  type Src = 'flag' | 'env' | 'file';
  type Form = 'value' | 'file';
  const PAIRS: { name: string; pick: (c: Config) => unknown; needs?: string[] }[] = [
    { name: 'redis-password', pick: (c) => c.redis.password },
    { name: 'etcd-password', pick: (c) => c.etcd.password, needs: ['--etcd-username=root'] },
    { name: 'zookeeper-auth', pick: (c) => c.zookeeper.auth },
    { name: 'admin-token', pick: (c) => c.adminToken },
  ];
  const upper = (name: string) => `ZK2ETCD_${name.toUpperCase().replace(/-/g, '_')}`;

  interface Setting {
    src: Src;
    form: Form;
    secret: string;
    /** For form file: point at a path that does not exist. */
    missing?: boolean;
  }
  let seq = 0;
  /** Runs the loader with each setting placed in its source (a -file form gets a real file holding the secret). */
  function run(pair: (typeof PAIRS)[number], settings: Setting[], extraArgv: string[] = []): Config {
    const argv = [...REQUIRED, ...extraArgv];
    const env: Record<string, string> = {};
    const yaml: string[] = [];
    for (const s of settings) {
      const key = s.form === 'file' ? `${pair.name}-file` : pair.name;
      let value = s.secret;
      if (s.form === 'file') {
        value = join(dir, `${pair.name}-${s.src}-${seq++}`);
        if (!s.missing) writeFileSync(value, `${s.secret}\n`);
      }
      if (s.src === 'flag') argv.push(`--${key}=${value}`);
      else if (s.src === 'env') env[upper(key)] = value;
      else yaml.push(`${key}: ${JSON.stringify(value)}`);
    }
    if (yaml.length > 0) {
      const config = join(dir, `config-${seq++}.yaml`);
      writeFileSync(config, `${yaml.join('\n')}\n`);
      argv.push(`--config=${config}`);
    }
    return loadConfig({ command: pair.name === 'admin-token' ? 'sync' : 'diff', argv, env });
  }
  function problemsOfRun(...args: Parameters<typeof run>): readonly string[] {
    try {
      run(...args);
    } catch (err) {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      return err.problems;
    }
    assert.fail('expected loadConfig to throw a ConfigError');
  }

  // [higher-ranked source, its form, lower-ranked source, its form]
  const crossSource: [Src, Form, Src, Form][] = [
    ['flag', 'value', 'env', 'file'],
    ['flag', 'file', 'env', 'value'],
    ['flag', 'value', 'file', 'file'],
    ['flag', 'file', 'file', 'value'],
    ['env', 'value', 'file', 'file'],
    ['env', 'file', 'file', 'value'],
  ];
  const NAMES: Record<Src, string> = { flag: 'flag', env: 'env', file: 'config file' };
  for (const pair of PAIRS) {
    for (const [hiSrc, hiForm, loSrc, loForm] of crossSource) {
      const hiName = `${NAMES[hiSrc]} ${hiForm === 'file' ? '-file' : 'value'}`;
      const loName = `${NAMES[loSrc]} ${loForm === 'file' ? '-file' : 'value'}`;
      test(`${pair.name}: ${hiName} wins over ${loName}`, () => {
        const config = run(pair, [
          { src: loSrc, form: loForm, secret: 'user:loser-secret' },
          { src: hiSrc, form: hiForm, secret: 'user:winner-secret' },
        ], pair.needs);
        assert.equal(pair.pick(config), 'user:winner-secret');
      });
    }
    test(`${pair.name}: a lower-ranked -file is never opened (flag value, env -file missing)`, () => {
      const config = run(pair, [
        { src: 'env', form: 'file', secret: 'user:loser-secret', missing: true },
        { src: 'flag', form: 'value', secret: 'user:winner-secret' },
      ], pair.needs);
      assert.equal(pair.pick(config), 'user:winner-secret');
    });
    test(`${pair.name}: a lower-ranked -file is never opened (env value, config-file -file missing)`, () => {
      const config = run(pair, [
        { src: 'file', form: 'file', secret: 'user:loser-secret', missing: true },
        { src: 'env', form: 'value', secret: 'user:winner-secret' },
      ], pair.needs);
      assert.equal(pair.pick(config), 'user:winner-secret');
    });
    test(`${pair.name}: both forms in the environment are overridden by a flag`, () => {
      const config = run(pair, [
        { src: 'env', form: 'value', secret: 'user:loser-secret' },
        { src: 'env', form: 'file', secret: 'user:loser-secret' },
        { src: 'flag', form: 'file', secret: 'user:winner-secret' },
      ], pair.needs);
      assert.equal(pair.pick(config), 'user:winner-secret');
    });

    const sameSource: [Src, string][] = [
      ['flag', 'on the command line'],
      ['env', `in the environment, ${upper(pair.name)} and ${upper(`${pair.name}-file`)}`],
      ['file', `in the config file, keys ${pair.name} and ${pair.name}-file`],
    ];
    for (const [src, where] of sameSource) {
      test(`${pair.name}: value and -file both from the ${NAMES[src]} is an error naming both`, () => {
        const problems = problemsOfRun(pair, [
          { src, form: 'value', secret: 'user:same-source-secret' },
          { src, form: 'file', secret: 'user:same-source-secret' },
        ]);
        assert.deepEqual(problems, [`--${pair.name} and --${pair.name}-file: set only one (both given ${where})`]);
      });
    }
  }
});

describe('loadConfig: the result is deeply frozen', () => {
  const config = load({
    argv: ['--etcd-cacert=/ca.pem', '--etcd-cert=/cert.pem', '--etcd-key=/key.pem'],
    files: { '/ca.pem': PEM.ca, '/cert.pem': PEM.cert, '/key.pem': PEM.key },
  });
  const parts: { name: string; value: unknown }[] = [
    { name: 'config', value: config },
    { name: 'config.zookeeper', value: config.zookeeper },
    { name: 'config.zookeeper.prefixes', value: config.zookeeper.prefixes },
    { name: 'config.zookeeper.excludes', value: config.zookeeper.excludes },
    { name: 'config.zookeeper.servers', value: config.zookeeper.servers },
    { name: 'config.etcd', value: config.etcd },
    { name: 'config.etcd.endpoints', value: config.etcd.endpoints },
    { name: 'config.etcd.tls', value: config.etcd.tls },
    { name: 'config.redis', value: config.redis },
    { name: 'config.maxDelete', value: config.maxDelete },
    { name: 'config.fullSync', value: config.fullSync },
    { name: 'config.httpAddr', value: config.httpAddr },
  ];
  for (const p of parts) {
    test(p.name, () => {
      assert.ok(p.value !== null && typeof p.value === 'object', `${p.name} should be an object`);
      assert.ok(Object.isFrozen(p.value), `${p.name} is not frozen`);
    });
  }

  test('writes throw in strict mode', () => {
    assert.throws(() => {
      (config.zookeeper.prefixes as string[]).push('/x');
    }, TypeError);
    assert.throws(() => {
      (config as { concurrent: number }).concurrent = 1;
    }, TypeError);
  });
});

describe('loadConfig: bad input gives one problem line naming the flag', () => {
  const cases: { name: string; args: LoadArgs; startsWith: string; mentions?: string }[] = [
    { name: 'non-integer --concurrent', args: { argv: ['--concurrent=abc'] }, startsWith: '--concurrent:', mentions: 'integer' },
    { name: 'fractional --concurrent', args: { argv: ['--concurrent=1.5'] }, startsWith: '--concurrent:' },
    { name: '--concurrent=0', args: { argv: ['--concurrent=0'] }, startsWith: '--concurrent:' },
    { name: 'bad value from env still names the flag and the env var', args: { env: { ZK2ETCD_CONCURRENT: 'many' } }, startsWith: '--concurrent:', mentions: 'ZK2ETCD_CONCURRENT' },
    { name: 'prefix without leading slash', args: { argv: ['--zookeeper-prefix=dubbo'] }, startsWith: '--zookeeper-prefix:', mentions: 'must start with /' },
    { name: 'prefix with a trailing slash', args: { argv: ['--zookeeper-prefix=/dubbo/'] }, startsWith: '--zookeeper-prefix:' },
    { name: 'overlapping prefixes', args: { argv: ['--zookeeper-prefix=/dubbo,/dubbo/svc'] }, startsWith: '--zookeeper-prefix:', mentions: '/dubbo/svc' },
    { name: 'an empty prefix list', args: { argv: ['--zookeeper-prefix='] }, startsWith: '--zookeeper-prefix:' },
    { name: 'exclude covering a whole prefix', args: { argv: ['--zookeeper-exclude-prefix=/dubbo'] }, startsWith: '--zookeeper-exclude-prefix:', mentions: '/dubbo' },
    { name: 'exclude / covers every prefix', args: { argv: ['--zookeeper-prefix=/dubbo', '--zookeeper-exclude-prefix=/'] }, startsWith: '--zookeeper-exclude-prefix:' },
    { name: 'exclude without leading slash', args: { argv: ['--zookeeper-exclude-prefix=dubbo/config'] }, startsWith: '--zookeeper-exclude-prefix:' },
    {
      name: 'exclude on the command line under none of the prefixes',
      args: { argv: ['--zookeeper-prefix=/dubbo', '--zookeeper-exclude-prefix=/dubo/config'] },
      startsWith: '--zookeeper-exclude-prefix: /dubo/config is under none of the prefixes (/dubbo)',
    },
    {
      name: "exclude sharing the prefix's string but not its path (1.x matched raw strings)",
      args: { argv: ['--zookeeper-prefix=/dubbo', '--zookeeper-exclude-prefix=/dubbo-admin'] },
      startsWith: '--zookeeper-exclude-prefix: /dubbo-admin is under none',
      mentions: 'whole path segments',
    },
    { name: 'bad duration (no unit)', args: { argv: ['--round-interval=5'] }, startsWith: '--round-interval:', mentions: '500ms' },
    { name: 'bad duration (word)', args: { argv: ['--zookeeper-session-timeout=forever'] }, startsWith: '--zookeeper-session-timeout:' },
    { name: 'bad --output', args: { argv: ['--output=xml'] }, startsWith: '--output:', mentions: 'json' },
    { name: 'bad --max-delete (word)', args: { argv: ['--max-delete=lots'] }, startsWith: '--max-delete:' },
    { name: 'bad --max-delete (over 100%)', args: { argv: ['--max-delete=150%'] }, startsWith: '--max-delete:' },
    { name: 'bad --max-delete (negative)', args: { argv: ['--max-delete=-1'] }, startsWith: '--max-delete:' },
    { name: 'unknown flag', args: { argv: ['--zookeeper-prefixes=/dubbo'] }, startsWith: '--zookeeper-prefixes:', mentions: 'unknown flag' },
    {
      name: 'unknown config-file key',
      args: { argv: ['--config=/c.yaml'], files: { '/c.yaml': 'zookeeper-prefixes: /dubbo\n' } },
      startsWith: '--config:',
      mentions: 'zookeeper-prefixes',
    },
    { name: 'unreadable config file', args: { argv: ['--config=/nope.yaml'] }, startsWith: '--config:', mentions: '/nope.yaml' },
    {
      name: 'secret given both directly and as -file',
      args: { argv: ['--redis-password=x', '--redis-password-file=/s'], files: { '/s': 'y' } },
      startsWith: '--redis-password',
      mentions: '--redis-password-file',
    },
    { name: '--etcd-cert without --etcd-key', args: { argv: ['--etcd-cert=/cert.pem'], files: { '/cert.pem': PEM.cert } }, startsWith: '--etcd-cert and --etcd-key: set both or neither (only --etcd-cert is set)' },
    { name: '--etcd-key without --etcd-cert', args: { argv: ['--etcd-key=/key.pem'], files: { '/key.pem': PEM.key } }, startsWith: '--etcd-cert and --etcd-key: set both or neither (only --etcd-key is set)' },
    {
      name: '--etcd-cert alone, from the environment',
      args: { env: { ZK2ETCD_ETCD_CERT: '/cert.pem' }, files: { '/cert.pem': PEM.cert } },
      startsWith: '--etcd-cert and --etcd-key: set both or neither (only --etcd-cert is set, from ZK2ETCD_ETCD_CERT)',
    },
    // A Secret mounted under swapped keys, a wrong file: usage errors naming the flag, not OpenSSL's at the first connection.
    {
      name: 'a CA file holding no certificate',
      args: { argv: ['--etcd-cacert=/ca.pem'], files: { '/ca.pem': PEM.key } },
      startsWith: '--etcd-cacert: /ca.pem holds no PEM certificate',
    },
    {
      name: 'client certificate and key swapped',
      args: { argv: ['--etcd-cert=/key.pem', '--etcd-key=/cert.pem'], files: { '/key.pem': PEM.key, '/cert.pem': PEM.cert } },
      startsWith: '--etcd-cert: /key.pem holds no PEM certificate; it must be the client certificate',
    },
    {
      name: 'a client certificate with the wrong key',
      args: { argv: ['--etcd-cert=/cert.pem', '--etcd-key=/other.pem'], files: { '/cert.pem': PEM.cert, '/other.pem': PEM.otherKey } },
      startsWith: '--etcd-cert and --etcd-key: /cert.pem and /other.pem are not a certificate and its private key (',
    },
    {
      name: 'a client certificate with a key of another type (an RSA key for an EC certificate)',
      args: { argv: ['--etcd-cert=/cert.pem', '--etcd-key=/rsa.pem'], files: { '/cert.pem': PEM.cert, '/rsa.pem': PEM.rsaKey } },
      startsWith: "--etcd-cert and --etcd-key: /cert.pem and /rsa.pem are not a certificate and its private key (the key is not the certificate's)",
    },
    {
      name: 'a client key holding no key, from a config file',
      args: { argv: ['--config=/c.yaml'], files: { '/c.yaml': 'etcd-cert: /cert.pem\netcd-key: /ca.pem\n', '/cert.pem': PEM.cert, '/ca.pem': PEM.ca } },
      startsWith: '--etcd-cert and --etcd-key: /cert.pem and /ca.pem are not a certificate and its private key (',
      mentions: '(from config file key etcd-cert) (from config file key etcd-key)',
    },
    { name: 'an unreadable TLS file named in the environment', args: { env: { ZK2ETCD_ETCD_CACERT: '/missing.pem' } }, startsWith: '--etcd-cacert: cannot read /missing.pem (ENOENT) (from ZK2ETCD_ETCD_CACERT)' },
    { name: 'an unreadable secret file named in the environment', args: { env: { ZK2ETCD_REDIS_PASSWORD_FILE: '/missing' } }, startsWith: '--redis-password-file: cannot read /missing (ENOENT) (from ZK2ETCD_REDIS_PASSWORD_FILE)' },
    { name: 'a session timeout of 0', args: { argv: ['--zookeeper-session-timeout=0'] }, startsWith: '--zookeeper-session-timeout: must be a duration', mentions: 'from 1s to 600s' },
    { name: 'a session timeout under 1s', args: { argv: ['--zookeeper-session-timeout=999ms'] }, startsWith: '--zookeeper-session-timeout:', mentions: 'from 1s' },
    {
      name: 'invalid cron from the environment names it and what is accepted',
      args: { command: 'sync', env: { ZK2ETCD_FULLSYNC_INTERVAL: '61 * * * *' } },
      startsWith: '--fullsync-interval: "61 * * * *" is not a valid cron expression; must be a duration such as 5m',
      mentions: '(from ZK2ETCD_FULLSYNC_INTERVAL)',
    },
    {
      name: 'the default exclude covering the prefix says it is the default',
      args: { argv: ['--zookeeper-prefix=/dubbo/config/app'] },
      startsWith: '--zookeeper-exclude-prefix: /dubbo/config excludes the whole prefix /dubbo/config/app (the default; --zookeeper-exclude-prefix= excludes nothing)',
    },
    { name: '--etcd-prefix ending in /', args: { argv: ['--etcd-prefix=/registry/'] }, startsWith: '--etcd-prefix: must not end with /', mentions: 'use "/registry"' },
    { name: '--etcd-prefix of / alone', args: { env: { ZK2ETCD_ETCD_PREFIX: '/' } }, startsWith: '--etcd-prefix: must not end with /', mentions: '(from ZK2ETCD_ETCD_PREFIX)' },
    { name: 'fix --fix=false', args: { command: 'fix', argv: ['--fix=false'] }, startsWith: '--fix: false contradicts the fix command', mentions: 'use diff' },
    { name: 'reconcile --fix=false', args: { command: 'reconcile', argv: ['--fix=false'] }, startsWith: '--fix: false contradicts the reconcile command' },
    { name: 'unreadable secret file', args: { argv: ['--redis-password-file=/missing'] }, startsWith: '--redis-password-file:', mentions: '/missing' },
    // An empty token would leave POST /log unprotected without a word: refused, like every empty secret.
    { name: 'an empty secret file', args: { argv: ['--admin-token-file=/t'], files: { '/t': '' } }, startsWith: '--admin-token-file: /t is empty' },
    { name: 'a secret file holding a newline only', args: { argv: ['--admin-token-file=/t'], files: { '/t': '\n' } }, startsWith: '--admin-token-file: /t is empty' },
    { name: 'an empty secret file named in the environment', args: { env: { ZK2ETCD_REDIS_PASSWORD_FILE: '/p' }, files: { '/p': ' \n' } }, startsWith: '--redis-password-file: /p is empty', mentions: 'ZK2ETCD_REDIS_PASSWORD_FILE' },
    { name: 'an empty secret flag', args: { argv: ['--admin-token='] }, startsWith: '--admin-token: is empty' },
    { name: 'an empty secret in the environment', args: { env: { ZK2ETCD_ADMIN_TOKEN: '' } }, startsWith: 'ZK2ETCD_ADMIN_TOKEN: is empty' },
    { name: 'unreadable TLS file', args: { argv: ['--etcd-cacert=/missing.pem'] }, startsWith: '--etcd-cacert:', mentions: 'ENOENT' },
    { name: 'invalid cron for --fullsync-interval', args: { argv: ['--fullsync-interval=99 * * * *'] }, startsWith: '--fullsync-interval:', mentions: 'cron' },
    { name: 'garbage --fullsync-interval', args: { argv: ['--fullsync-interval=often'] }, startsWith: '--fullsync-interval:' },
    // setInterval cannot hold 600h (it fires at once, over and over): longer than 24h is refused.
    { name: '--fullsync-interval above 24h', args: { argv: ['--fullsync-interval=600h'] }, startsWith: '--fullsync-interval:', mentions: 'at most 24h' },
    { name: '--fullsync-interval just above 24h', args: { argv: ['--fullsync-interval=1441m'] }, startsWith: '--fullsync-interval:', mentions: 'cron' },
    { name: '--fullsync-interval under 1s', args: { argv: ['--fullsync-interval=500ms'] }, startsWith: '--fullsync-interval:', mentions: 'at least 1s' },
    { name: '--etcd-username without a password', args: { argv: ['--etcd-username=root'] }, startsWith: '--etcd-username' },
    { name: 'bad --zookeeper-auth', args: { argv: ['--zookeeper-auth=nocolon'] }, startsWith: '--zookeeper-auth:', mentions: 'from --zookeeper-auth)' },
    { name: 'bad --zookeeper-auth from the environment names it, not the value', args: { env: { ZK2ETCD_ZOOKEEPER_AUTH: 'nocolon' } }, startsWith: '--zookeeper-auth: must be user:password (from ZK2ETCD_ZOOKEEPER_AUTH)' },
    { name: 'bad --zookeeper-auth from a file names the file', args: { argv: ['--zookeeper-auth-file=/a'], files: { '/a': 'nocolon\n' } }, startsWith: '--zookeeper-auth: must be user:password (from --zookeeper-auth-file /a)' },
    { name: 'the ZooKeeper system subtree as a prefix', args: { argv: ['--zookeeper-prefix=/zookeeper'] }, startsWith: '--zookeeper-prefix: /zookeeper: ZooKeeper\'s own /zookeeper subtree is never mirrored' },
    { name: 'a prefix under the ZooKeeper system subtree', args: { argv: ['--zookeeper-prefix=/zookeeper/config'] }, startsWith: '--zookeeper-prefix: /zookeeper/config:', mentions: 'never mirrored' },
    { name: 'etcd endpoint carrying credentials', args: { bare: true, argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=http://user:pw@etcd:2379', '--redis-server=redis:6379'] }, startsWith: '--etcd-servers: must not carry credentials', mentions: '***@' },
    { name: 'redis server with another scheme', args: { bare: true, argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=etcd:2379', '--redis-server=http://r:1'] }, startsWith: '--redis-server: "http://r:1" must use redis:// or rediss://' },
    { name: 'bad --leader-elect', args: { argv: ['--leader-elect=zookeeper'] }, startsWith: '--leader-elect:' },
    { name: 'bad --log-level', args: { argv: ['--log-level=verbose'] }, startsWith: '--log-level: must be one of debug, info, warn, error (any case; panic and fatal mean error)' },
    { name: 'missing --redis-server', args: { bare: true, argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=etcd:2379'] }, startsWith: '--redis-server:', mentions: 'required' },
    { name: 'bad zookeeper server', args: { bare: true, argv: ['--zookeeper-servers=zk/chroot', '--etcd-servers=etcd:2379', '--redis-server=redis:6379'] }, startsWith: '--zookeeper-servers: "zk/chroot" is not host:port' },
    { name: 'zookeeper port above 65535', args: { bare: true, argv: ['--zookeeper-servers=zk1:2181,zk2:99999', '--etcd-servers=etcd:2379', '--redis-server=redis:6379'] }, startsWith: '--zookeeper-servers:', mentions: '1-65535' },
    { name: 'zookeeper port 0', args: { bare: true, argv: ['--zookeeper-servers=zk1:0', '--etcd-servers=etcd:2379', '--redis-server=redis:6379'] }, startsWith: '--zookeeper-servers:', mentions: '1-65535' },
    { name: 'etcd port above 65535', args: { bare: true, argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=http://etcd:99999', '--redis-server=redis:6379'] }, startsWith: '--etcd-servers:', mentions: 'etcd:99999' },
    { name: 'redis port above 65535', args: { bare: true, argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=etcd:2379', '--redis-server=redis:99999'] }, startsWith: '--redis-server:', mentions: 'redis:99999' },
    { name: '--http-addr port above 65535', args: { argv: ['--http-addr=:99999'] }, startsWith: '--http-addr:' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const problems = problemsOf(c.args);
      assert.equal(problems.length, 1, `expected one problem, got:\n${problems.join('\n')}`);
      const [line] = problems as [string];
      assert.ok(line.startsWith(c.startsWith), `"${line}" should start with "${c.startsWith}"`);
      if (c.mentions !== undefined) assert.ok(line.includes(c.mentions), `"${line}" should mention "${c.mentions}"`);
      assert.ok(!line.includes('\n'), 'a problem is a single line');
    });
  }

  test('no flags at all: each required flag is reported', () => {
    const problems = problemsOf({ bare: true });
    for (const flag of ['--zookeeper-servers:', '--etcd-servers:', '--redis-server:']) {
      assert.ok(
        problems.some((p) => p.startsWith(flag)),
        `no problem for ${flag} in:\n${problems.join('\n')}`,
      );
    }
    assert.equal(problems.length, 3);
  });
});

describe('loadConfig: several problems at once are all reported', () => {
  const cases: { name: string; args: LoadArgs; expected: string[] }[] = [
    {
      name: 'three bad field values',
      args: { argv: ['--concurrent=abc', '--output=xml', '--max-delete=lots'] },
      expected: ['--concurrent:', '--max-delete:', '--output:'],
    },
    {
      name: 'unknown flag, unreadable secret file and a bad value',
      args: { argv: ['--nope=1', '--redis-password-file=/missing', '--round-interval=soon'] },
      expected: ['--nope:', '--redis-password-file:', '--round-interval:'],
    },
    {
      name: 'a bad field value together with cross-field problems',
      args: { argv: ['--concurrent=abc', '--etcd-cert=/cert.pem', '--zookeeper-exclude-prefix=/dubbo'], files: { '/cert.pem': PEM.cert } },
      expected: ['--concurrent:', '--etcd-cert and --etcd-key:', '--zookeeper-exclude-prefix:'],
    },
    {
      name: 'cross-field problems together',
      args: { argv: ['--fullsync-interval=99 * * * *', '--etcd-key=/key.pem', '--etcd-cacert=/missing.pem'], files: { '/key.pem': PEM.key } },
      expected: ['--etcd-cacert:', '--etcd-cert and --etcd-key:', '--fullsync-interval:'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const problems = problemsOf(c.args);
      const matched = c.expected.map((prefix) => problems.filter((p) => p.startsWith(prefix)).length);
      assert.deepEqual(matched, c.expected.map(() => 1), `expected one line for each of ${c.expected.join(', ')}, got:\n${problems.join('\n')}`);
      assert.equal(problems.length, c.expected.length, problems.join('\n'));
    });
  }
});

describe('loadConfig: every bad item of a path list is its own problem', () => {
  test('four bad prefixes: four lines', () => {
    const problems = problemsOf({ argv: ['--zookeeper-prefix=dubbo,/x/,//y,/zookeeper'] });
    assert.deepEqual(
      problems.map((p) => p.replace(/ \(got .*\)$/, '')),
      [
        '--zookeeper-prefix: "dubbo" must start with /',
        '--zookeeper-prefix: "/x/" must not end with /',
        '--zookeeper-prefix: "//y" must not contain an empty segment (//)',
        "--zookeeper-prefix: /zookeeper: ZooKeeper's own /zookeeper subtree is never mirrored",
      ],
    );
  });

  test('two overlaps: two lines', () => {
    const problems = problemsOf({ argv: ['--zookeeper-prefix=/a,/a/b,/c,/c/d'] });
    assert.equal(problems.length, 2, problems.join('\n'));
  });

  test('an exclude under none of the prefixes is accepted from the environment or a file (shards share one ConfigMap)', () => {
    assert.deepEqual(load({ argv: ['--zookeeper-prefix=/services'], env: { ZK2ETCD_ZOOKEEPER_EXCLUDE_PREFIX: '/dubbo/config' } }).zookeeper.excludes, ['/dubbo/config']);
    const file = { argv: ['--zookeeper-prefix=/services', '--config=/c.yaml'], files: { '/c.yaml': 'zookeeper-exclude-prefix: /dubbo/config\n' } };
    assert.deepEqual(load(file).zookeeper.excludes, ['/dubbo/config']);
  });

  test('an exclude on the command line under one of several prefixes is accepted', () => {
    assert.deepEqual(load({ argv: ['--zookeeper-prefix=/services,/dubbo', '--zookeeper-exclude-prefix=/dubbo/config'] }).zookeeper.excludes, ['/dubbo/config']);
  });

  test('/zookeeper may be excluded (it never is mirrored anyway)', () => {
    assert.deepEqual(load({ argv: ['--zookeeper-prefix=/', '--zookeeper-exclude-prefix=/zookeeper'] }).zookeeper.excludes, ['/zookeeper']);
  });
});

describe('loadConfig: a secret value never appears in a problem', () => {
  const cases: { name: string; args: LoadArgs }[] = [
    { name: 'secret and -file both given', args: { argv: [`--redis-password=${SECRET}`, '--redis-password-file=/s'], files: { '/s': SECRET } } },
    { name: 'secret given twice on the command line', args: { argv: [`--redis-password=${SECRET}`, `--redis-password=${SECRET}x`] } },
    { name: '--zookeeper-auth without a colon', args: { argv: [`--zookeeper-auth=${SECRET}`] } },
    { name: '--etcd-password without --etcd-username', args: { argv: [`--etcd-password=${SECRET}`] } },
    { name: 'secret from env next to a bad value', args: { argv: ['--concurrent=abc'], env: { ZK2ETCD_ADMIN_TOKEN: SECRET } } },
    { name: 'secret from a file next to a bad value', args: { argv: ['--redis-password-file=/s', '--output=xml'], files: { '/s': `${SECRET}\n` } } },
    {
      name: 'secret in a config file next to an unknown key',
      args: { argv: ['--config=/c.yaml'], files: { '/c.yaml': `redis-password: ${SECRET}\nbogus: 1\n` } },
    },
    {
      name: 'secret in a config file given as a mapping',
      args: { argv: ['--config=/c.yaml'], files: { '/c.yaml': `redis-password:\n  value: ${SECRET}\n` } },
    },
    {
      name: 'a password embedded in the --redis-server URL (rejected, and must not be echoed back)',
      args: { bare: true, argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=etcd:2379', `--redis-server=redis://app:${SECRET}@redis:6379`] },
    },
    { name: 'credentials without a scheme in --etcd-servers', args: { bare: true, argv: ['--zookeeper-servers=zk:2181', `--etcd-servers=app:${SECRET}@etcd:2379`, '--redis-server=redis:6379'] } },
    { name: 'credentials in --zookeeper-servers', args: { bare: true, argv: [`--zookeeper-servers=zk:2181,app:${SECRET}@zk2:2181`, '--etcd-servers=etcd:2379', '--redis-server=redis:6379'] } },
    { name: 'a password with a space and an @ in the --redis-server URL', args: { bare: true, argv: ['--zookeeper-servers=zk:2181', '--etcd-servers=etcd:2379', `--redis-server=redis://app:a b@${SECRET}@redis:6379`] } },
    { name: 'a password holding a comma in --zookeeper-servers', args: { bare: true, argv: [`--zookeeper-servers=app:${SECRET.slice(0, 4)},${SECRET.slice(4)}@zk:2181`, '--etcd-servers=etcd:2379', '--redis-server=redis:6379'] } },
    { name: 'a password holding a comma in --etcd-servers', args: { bare: true, argv: ['--zookeeper-servers=zk:2181', `--etcd-servers=http://app:${SECRET.slice(0, 4)},${SECRET.slice(4)}@etcd:2379`, '--redis-server=redis:6379'] } },
    { name: 'secret and -file both in env', args: { env: { ZK2ETCD_ADMIN_TOKEN: SECRET, ZK2ETCD_ADMIN_TOKEN_FILE: '/t' }, files: { '/t': SECRET } } },
    { name: 'secret and -file both in the config file', args: { argv: ['--config=/c.yaml'], files: { '/c.yaml': `admin-token: ${SECRET}\nadmin-token-file: /t\n`, '/t': SECRET } } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const problems = problemsOf(c.args);
      assert.ok(problems.length > 0);
      // Nor any part of it (a password split at a comma: 'S3cr' and the rest).
      for (const p of problems) assert.ok(![SECRET, SECRET.slice(0, 4), SECRET.slice(4)].some((part) => p.includes(part)), `secret leaked in: ${p}`);
    });
  }
});

describe('parseDuration', () => {
  const cases: { name: string; input: string; expected: number | null }[] = [
    { name: 'milliseconds', input: '500ms', expected: 500 },
    { name: 'seconds', input: '30s', expected: 30_000 },
    { name: 'minutes', input: '5m', expected: 300_000 },
    { name: 'hours', input: '1h', expected: 3_600_000 },
    { name: 'Go-style compound', input: '1m30s', expected: 90_000 },
    { name: 'fractional seconds', input: '1.5s', expected: 1500 },
    { name: 'bare zero', input: '0', expected: 0 },
    { name: 'surrounding spaces', input: ' 30s ', expected: 30_000 },
    { name: 'a number without a unit', input: '30', expected: null },
    { name: 'an unknown unit', input: '5d', expected: null },
    { name: 'a unit without a number', input: 'ms', expected: null },
    { name: 'a negative duration', input: '-1s', expected: null },
    { name: 'trailing garbage', input: '30sx', expected: null },
    { name: 'leading garbage', input: 'x30s', expected: null },
    { name: 'the empty string', input: '', expected: null },
  ];
  for (const c of cases) {
    test(`${c.name} (${JSON.stringify(c.input)})`, () => assert.equal(parseDuration(c.input), c.expected));
  }
});

describe('parseArgv', () => {
  const cases: { name: string; argv: string[]; values: Record<string, string>; positionals?: string[]; help?: boolean; problems?: string[] }[] = [
    { name: '--name=value', argv: ['--concurrent=8'], values: { concurrent: '8' } },
    { name: '--name value', argv: ['--concurrent', '8'], values: { concurrent: '8' } },
    { name: 'single-dash Go style', argv: ['-concurrent=8'], values: { concurrent: '8' } },
    { name: 'a value containing =', argv: ['--etcd-prefix=/a=b'], values: { 'etcd-prefix': '/a=b' } },
    { name: 'an empty value', argv: ['--zookeeper-exclude-prefix='], values: { 'zookeeper-exclude-prefix': '' } },
    { name: 'a negative number as the next value', argv: ['--concurrent', '-1'], values: { concurrent: '-1' } },
    { name: 'bare boolean', argv: ['--force'], values: { force: 'true' } },
    { name: '--bool=false', argv: ['--force=false'], values: { force: 'false' } },
    { name: '--bool=no is normalized', argv: ['--force=no'], values: { force: 'false' } },
    { name: '--bool=ON is normalized', argv: ['--dry-run=ON'], values: { 'dry-run': 'true' } },
    { name: 'an odd boolean is kept for the schema to reject', argv: ['--force=maybe'], values: { force: 'maybe' } },
    { name: 'a bare boolean does not eat the next argument', argv: ['--force', 'extra'], values: { force: 'true' }, positionals: ['extra'] },
    { name: 'secret -file variants are flags', argv: ['--redis-password-file', '/s'], values: { 'redis-password-file': '/s' } },
    { name: '-- ends the flags', argv: ['--force', '--', '--concurrent=8'], values: { force: 'true' }, positionals: ['--concurrent=8'] },
    { name: '--help', argv: ['--help'], values: {}, help: true },
    { name: '-h', argv: ['-h'], values: {}, help: true },
    { name: 'unknown flag', argv: ['--nope=1'], values: {}, problems: ['--nope: unknown flag (see --help)'] },
    { name: 'missing value at the end', argv: ['--concurrent'], values: {}, problems: ['--concurrent: needs a value'] },
    { name: 'missing value before another flag', argv: ['--concurrent', '--force'], values: { force: 'true' }, problems: ['--concurrent: needs a value'] },
    { name: 'a flag given twice', argv: ['--concurrent=1', '--concurrent=2'], values: { concurrent: '2' }, problems: ['--concurrent: given more than once'] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const parsed = parseArgv(c.argv);
      assert.deepEqual(Object.fromEntries(parsed.values), c.values);
      assert.deepEqual(parsed.positionals, c.positionals ?? []);
      assert.equal(parsed.help, c.help ?? false);
      assert.deepEqual(parsed.problems, c.problems ?? []);
    });
  }

  test('extra command-specific flags are accepted', () => {
    const parsed = parseArgv(['--level=debug', '--addr', 'http://x:8080'], new Map([
      ['level', 'string'],
      ['addr', 'string'],
    ]));
    assert.deepEqual(Object.fromEntries(parsed.values), { level: 'debug', addr: 'http://x:8080' });
    assert.deepEqual(parsed.problems, []);
  });
});
