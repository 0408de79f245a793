import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { authEtcd, blackHole, describeRun, etcdctl, runCliBounded, secretFile, tlsEtcd } from '../helpers/secure-servers.js';
import type { AuthEtcd, TlsEtcd } from '../helpers/secure-servers.js';
import { etcdDump, freshName, jsonReport, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { generatePki } from '../helpers/tls.js';
import type { TestPki } from '../helpers/tls.js';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';

/** A refused connection must end the run within this; it takes about 1.5 s here (a hang is killed). */
const FAIL_DEADLINE_MS = 15_000;

/** The tree every test copies: a root, an intermediate node, leaves with text, binary and empty data. */
function tree(root: string): [string, Buffer][] {
  return [
    [root, Buffer.from('root')],
    [`${root}/providers`, Buffer.alloc(0)],
    [`${root}/providers/a`, Buffer.from('alpha')],
    [`${root}/providers/b`, Buffer.from([0, 1, 2, 255])],
    [`${root}/configurators`, Buffer.from('override=1')],
  ];
}

function assertTree(got: Map<string, Buffer>, want: [string, Buffer][]): void {
  assert.deepEqual([...got.keys()].sort(), want.map(([k]) => k).sort(), 'etcd holds exactly the ZooKeeper tree');
  for (const [k, v] of want) assert.ok((got.get(k) as Buffer).equals(v), `value of ${k} is byte-exact`);
}

/** SPEC §7: etcd over TLS with client certificates. */
describe('etcd over TLS with a client certificate', () => {
  const name = freshName('sec-etcd-tls');
  const root = `/${name}`;
  const instance = name;
  const redis = testRedis();
  let pki: TestPki;
  let other: TestPki;
  let etcd: TlsEtcd;
  let client: Etcd3;
  let zk: TestZk;
  const flags = () => [`--etcd-servers=${etcd.address}`, `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${instance}`, '--output=json'];

  before(async () => {
    pki = generatePki('zk2etcd-test');
    other = generatePki('untrusted');
    etcd = await tlsEtcd(pki);
    client = etcd.client();
    zk = await testZk();
    await zk.createAll(tree(root));
  });

  after(async () => {
    await zk?.removeTree(root);
    zk?.close();
    client?.close();
    await redis.del(ownershipHashKey(instance));
    redis.disconnect();
    await etcd?.cleanup();
    pki?.cleanup();
    other?.cleanup();
  });

  test('fix with --etcd-cacert/--etcd-cert/--etcd-key copies the tree over https', { timeout: 60_000 }, async () => {
    const tlsFlags = [`--etcd-cacert=${pki.caCert}`, `--etcd-cert=${pki.clientCert}`, `--etcd-key=${pki.clientKey}`];
    const r = await runCliBounded(['fix', ...flags(), ...tlsFlags], {}, 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(jsonReport(r).applied, { put: 5, delete: 0, skipped: 0 });
    assertTree(await etcdDump(client, root), tree(root));
    // etcdctl with the same certificates sees the same keys (the server really is TLS with client auth).
    const listed = await etcdctl(etcd.address, ['get', '--prefix', '--keys-only', root], etcd.ctlFlags);
    assert.deepEqual(listed.split('\n').filter(Boolean).sort(), tree(root).map(([k]) => k).sort());
    assert.equal(await redis.hlen(ownershipHashKey(instance)), 5, 'every written key recorded as ours');

    const d = await runCliBounded(['diff', ...flags(), ...tlsFlags], {}, 30_000);
    assert.equal(d.code, 0, describeRun(d));
    assert.equal(jsonReport(d).inSync, true);
  });

  test("the CA and client certificate in OpenSSL's TRUSTED CERTIFICATE form (openssl x509 -addtrust) work as well", { timeout: 60_000 }, async () => {
    const d = await runCliBounded(['diff', ...flags(), `--etcd-cacert=${pki.caTrustedCert}`, `--etcd-cert=${pki.clientTrustedCert}`, `--etcd-key=${pki.clientKey}`], {}, 30_000);
    assert.equal(d.code, 0, describeRun(d));
    assert.equal(jsonReport(d).inSync, true);
  });

  test('without a client certificate the run fails (exit 1, a message), writes nothing and does not hang', { timeout: 60_000 }, async () => {
    await zk.create(`${root}/providers/c`, Buffer.from('new'));
    const before = await etcdDump(client, root);
    const r = await runCliBounded(['fix', ...flags(), `--etcd-cacert=${pki.caCert}`], {}, FAIL_DEADLINE_MS);
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /etcd/i, 'the error names etcd');
    assert.match(r.stderr, /TLS flags/, 'the error points at the TLS flags');
    assert.deepEqual(await etcdDump(client, root), before, 'nothing written');
    assert.equal(await client.get(`${root}/providers/c`).string(), null);
  });

  test('a server certificate from an untrusted CA is refused (exit 1), never accepted', { timeout: 60_000 }, async () => {
    const before = await etcdDump(client, root);
    // The system trust store and a CA that did not sign the server: both must fail verification.
    for (const ca of [[], [`--etcd-cacert=${other.caCert}`]]) {
      const r = await runCliBounded(['fix', ...flags(), ...ca, `--etcd-cert=${pki.clientCert}`, `--etcd-key=${pki.clientKey}`], {}, FAIL_DEADLINE_MS);
      assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, /etcd/i);
    }
    assert.deepEqual(await etcdDump(client, root), before, 'nothing written');
  });

  test('a client certificate from another CA is refused (exit 1)', { timeout: 60_000 }, async () => {
    const before = await etcdDump(client, root);
    const r = await runCliBounded(['fix', ...flags(), `--etcd-cacert=${pki.caCert}`, `--etcd-cert=${other.clientCert}`, `--etcd-key=${other.clientKey}`], {}, FAIL_DEADLINE_MS);
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.deepEqual(await etcdDump(client, root), before, 'nothing written');
  });

  test('plain http against the https endpoint fails (exit 1) instead of hanging', { timeout: 60_000 }, async () => {
    const r = await runCliBounded(['diff', ...flags().map((f) => f.replace('https://', 'http://'))], {}, FAIL_DEADLINE_MS);
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
  });

  test('unreadable certificate files are a usage error (exit 2) naming the flag', async () => {
    const r = await runCliBounded(['diff', ...flags(), `--etcd-cacert=${join(pki.dir, 'nope.crt')}`, `--etcd-cert=${pki.clientCert}`], {}, 15_000);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /--etcd-cacert/);
    assert.match(r.stderr, /--etcd-cert and --etcd-key/);
  });
});

/** SPEC §7: etcd username/password auth, the password from a file. */
describe('etcd with username and password', () => {
  const name = freshName('sec-etcd-auth');
  const root = `/${name}`;
  const instance = name;
  const user = 'zk2etcd';
  const password = `etcd-pw-${name}`;
  const redis = testRedis();
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-sec-'));
  let etcd: AuthEtcd;
  let rootClient: Etcd3;
  let zk: TestZk;
  const flags = () => [`--etcd-servers=${etcd.address}`, `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--instance=${instance}`, '--output=json'];

  before(async () => {
    etcd = await authEtcd({ user, password, prefix: root, rootPassword: `root-${name}` });
    rootClient = etcd.rootClient();
    // A key outside the role's range: the user may neither read nor write it.
    await rootClient.put(`/outside-${name}`).value('not for zk2etcd');
    zk = await testZk();
    await zk.createAll(tree(root));
  });

  after(async () => {
    await zk?.removeTree(root);
    zk?.close();
    rootClient?.close();
    await redis.del(ownershipHashKey(instance));
    redis.disconnect();
    await etcd?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--etcd-username with --etcd-password-file copies the tree', { timeout: 60_000 }, async () => {
    const pwFile = secretFile(dir, 'etcd-password', password);
    const r = await runCliBounded(['fix', ...flags(), `--etcd-username=${user}`, `--etcd-password-file=${pwFile}`], {}, 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(jsonReport(r).applied, { put: 5, delete: 0, skipped: 0 });
    assertTree(await etcdDump(rootClient, root), tree(root));
    assert.equal(await redis.hlen(ownershipHashKey(instance)), 5);

    // The same through the environment.
    const d = await runCliBounded(['diff', ...flags()], { ZK2ETCD_ETCD_USERNAME: user, ZK2ETCD_ETCD_PASSWORD_FILE: pwFile }, 30_000);
    assert.equal(d.code, 0, describeRun(d));
    assert.equal(jsonReport(d).inSync, true);
  });

  test('a wrong password exits 1 naming the auth flags, and writes nothing', { timeout: 60_000 }, async () => {
    await zk.create(`${root}/providers/c`, Buffer.from('new'));
    await zk.remove(`${root}/configurators`);
    const before = await etcdDump(rootClient, root);
    const hashBefore = await redis.hgetall(ownershipHashKey(instance));
    const pwFile = secretFile(dir, 'wrong-password', 'not-the-password');
    const r = await runCliBounded(['fix', ...flags(), `--etcd-username=${user}`, `--etcd-password-file=${pwFile}`], {}, FAIL_DEADLINE_MS);
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /--etcd-username/, `the message names the flags: ${r.stderr}`);
    assert.match(r.stderr, /--etcd-password/, `the message names the flags: ${r.stderr}`);
    assert.deepEqual(await etcdDump(rootClient, root), before, 'nothing written or deleted');
    assert.deepEqual(await redis.hgetall(ownershipHashKey(instance)), hashBefore, 'ownership records untouched');
  });

  test('no credentials at all: exit 1, nothing written', { timeout: 60_000 }, async () => {
    const before = await etcdDump(rootClient, root);
    const r = await runCliBounded(['fix', ...flags()], {}, FAIL_DEADLINE_MS);
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /etcd/i);
    assert.deepEqual(await etcdDump(rootClient, root), before);
  });

  test('a user without permission on the prefix: exit 1 naming the role problem, nothing written', { timeout: 60_000 }, async () => {
    const other = `/outside-${name}`;
    const pwFile = secretFile(dir, 'etcd-password-2', password);
    const r = await runCliBounded(
      ['fix', `--etcd-servers=${etcd.address}`, `--zookeeper-prefix=${root}`, '--zookeeper-exclude-prefix=', `--etcd-prefix=${other}`, `--instance=${instance}-outside`, '--output=json', `--etcd-username=${user}`, `--etcd-password-file=${pwFile}`],
      {},
      FAIL_DEADLINE_MS,
    );
    assert.equal(r.timedOut, false, `hung: ${describeRun(r)}`);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /permission denied/i);
    assert.match(r.stderr, /--etcd-username/);
    assert.deepEqual([...(await etcdDump(rootClient, other)).keys()], [other], 'only the pre-existing key is there');
    assert.equal(await redis.exists(ownershipHashKey(`${instance}-outside`)), 0);
  });
});

/** A hung etcd (accepts TCP, never answers) must fail the run, never hang it. */
describe('an etcd endpoint that never answers', () => {
  /** With per-call deadlines of 10 s and 4 read attempts, about 45 s; a hang is killed here. */
  const HANG_DEADLINE_MS = 60_000;

  test('https and http: exit 1 within the deadline, with a message', { timeout: 120_000 }, async () => {
    const pki = generatePki('zk2etcd-hang');
    const hole = await blackHole();
    try {
      const tlsFlags = [`--etcd-cacert=${pki.caCert}`, `--etcd-cert=${pki.clientCert}`, `--etcd-key=${pki.clientKey}`];
      const common = ['diff', `--zookeeper-prefix=/${freshName('sec-etcd-hang')}`, '--allow-empty-source', '--output=json'];
      const [https, http] = await Promise.all([
        runCliBounded([...common, `--etcd-servers=https://127.0.0.1:${hole.port}`, ...tlsFlags], {}, HANG_DEADLINE_MS),
        runCliBounded([...common, `--etcd-servers=http://127.0.0.1:${hole.port}`], {}, HANG_DEADLINE_MS),
      ]);
      for (const [label, r] of [['https', https], ['http', http]] as const) {
        assert.equal(r.timedOut, false, `${label}: hung: ${describeRun(r)}`);
        assert.equal(r.code, 1, `${label}: ${describeRun(r)}`);
        assert.match(r.stderr, /etcd/i, label);
        assert.match(JSON.parse(r.stdout).error.class, /^etcd_/, `${label}: an error document, no report: ${r.stdout}`);
      }
    } finally {
      await hole.close();
      pki.cleanup();
    }
  });
});
