import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_BIN, runCli } from '../helpers/services.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The binary's own commands (SPEC §8): version, help, usage errors. */
describe('zk2etcd CLI basics', () => {
  test('version: the version, commit, build date, Node version and the code cache (used, as built)', async () => {
    const r = await runCli(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^zk2etcd ${pkg.version.replace(/\./g, '\\.')} \\(commit [0-9a-f]{7,40}(-dirty)?, built \\d{4}-\\d\\d-\\d\\dT[^,]+, node ${process.version}, code cache used\\)\\n$`));
  });

  test('the bundle runs strict, as its ES modules did (esbuild puts its own "use strict" after our banner)', () => {
    const bundle = CLI_BIN.replace(/\.js$/, '.cjs');
    assert.ok(readFileSync(bundle, 'utf8').startsWith('"use strict";\n'), 'the bundle begins with "use strict"');
    // A strict function has no own `caller` or `arguments`: runCli, loaded as the launcher loads it.
    const loader = fileURLToPath(new URL('../../bin/load-bundle.js', import.meta.url));
    const probe = `const { loadBundle } = await import(${JSON.stringify(loader)});
      const f = loadBundle(${JSON.stringify(bundle)}).exports.runCli;
      console.log(JSON.stringify([typeof f, Object.hasOwn(f, 'caller'), Object.hasOwn(f, 'arguments')]));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ['function', false, false]);
  });

  test('a reader that closed the pipe (| head -c 100): no crash, the run keeps its exit code', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await runCli(['version'], {}, (child) => child.stdout?.destroy());
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /EPIPE|Error/);
    }
  });

  test('stdout that cannot be written (a full disk): exit 1, the error on stderr', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [CLI_BIN, 'version'], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^zk2etcd: cannot write to stdout: ENOSPC/);
    } finally {
      closeSync(full);
    }
  });

  const cases: { name: string; args: string[]; code: number; stdout?: RegExp; stderr?: RegExp }[] = [
    { name: 'version with an argument', args: ['version', '--bogus'], code: 2, stderr: /^zk2etcd version: takes no arguments \(got "--bogus"\)\n$/ },
    { name: 'no command: the usage on stderr', args: [], code: 2, stderr: /^zk2etcd: keeps etcd in sync with ZooKeeper\n/ },
    { name: '--help: the usage on stdout', args: ['--help'], code: 0, stdout: /Usage: zk2etcd <command> \[flags\]/ },
    { name: 'an unknown command', args: ['copy'], code: 2, stderr: /^zk2etcd: unknown command "copy"/ },
    { name: 'diff --help lists the flags with their variables', args: ['diff', '--help'], code: 0, stdout: /--zookeeper-servers value\n.*\[ZK2ETCD_ZOOKEEPER_SERVERS\]/ },
    { name: 'log --help', args: ['log', '--help'], code: 0, stdout: /^Usage: zk2etcd log --level L/ },
    { name: 'help diff is diff --help', args: ['help', 'diff'], code: 0, stdout: /^Usage: zk2etcd diff \[flags\]\n[\s\S]*--max-delete value/ },
    { name: 'help log is log --help', args: ['help', 'log'], code: 0, stdout: /^Usage: zk2etcd log --level L/ },
    { name: 'version --help', args: ['version', '--help'], code: 0, stdout: /^Usage: zk2etcd version\n/ },
    {
      name: 'bad settings with --output json: the problems on stderr and a JSON document on stdout',
      args: ['diff', '--output=json', '--concurrent=0'],
      code: 2,
      stdout: /^\{"error":\{"class":"config","message":"--concurrent: must be an integer from 1 to 10000 \(got \\"0\\" from --concurrent\)","retryable":false,"problems":\["--concurrent: must be an integer from 1 to 10000 \(got \\"0\\" from --concurrent\)"\]\}\}\n$/,
      stderr: /^zk2etcd diff: --concurrent: must be an integer from 1 to 10000 \(got "0" from --concurrent\)\n$/,
    },
    { name: 'sync --dry-run is refused: the watcher always writes', args: ['sync', '--dry-run'], code: 2, stderr: /^zk2etcd sync: --dry-run: sync always writes \(from --dry-run\); preview with zk2etcd diff or zk2etcd fix --dry-run\n$/ },
    { name: 'a watcher flag on diff is refused', args: ['diff', '--http-addr=:9090'], code: 2, stderr: /^zk2etcd diff: --http-addr: only zk2etcd sync uses it, not diff\n$/ },
    { name: 'sync --help lists only the flags sync uses', args: ['sync', '--help'], code: 0, stdout: /^(?![\s\S]*--dry-run)(?![\s\S]*--output)[\s\S]*--http-addr value/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await runCli(c.args);
      assert.equal(r.code, c.code, r.stdout + r.stderr);
      if (c.stdout) assert.match(r.stdout, c.stdout);
      else assert.equal(r.stdout, '');
      if (c.stderr) assert.match(r.stderr, c.stderr);
    });
  }
});
