import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { freePort } from '../helpers/watcher-process.js';

const DEMO = fileURLToPath(new URL('../../../scripts/demo.sh', import.meta.url));

/** The README's first command runs end to end, and its output shows live changes arriving in etcd. */
test('npm run demo: diff, fix, and the watcher carrying live changes into etcd', async () => {
  const port = await freePort();
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    // KEEP_SERVICES: the shared servers stay up for the other tests; the build is the suite's own.
    const child = spawn('bash', [DEMO], { env: { ...process.env, KEEP_SERVICES: '1', DEMO_SKIP_BUILD: '1', DEMO_HTTP_PORT: String(port) } });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, out: text }));
  });
  assert.equal(code, 0, out.slice(-3000));
  assert.match(out, /zk2etcd diff: NOT in sync/);
  assert.match(out, /zk2etcd diff: in sync/);
  assert.match(out, /arrived in etcd: \/dubbo\/com\.example\.service\.Service7\/providers\/dubbo%3A%2F%2F10\.7\.7\.7/);
  assert.match(out, /arrived in etcd: Service8 = live data change/);
  assert.match(out, /foreign key still there: not ours/);
  assert.match(out, /watcher stopped cleanly \(exit 0\)/);
});
