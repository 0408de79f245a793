// Records commit and build date for `zk2etcd version`.
import { execSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {}
writeFileSync('dist/build-info.json', JSON.stringify({ commit, date: new Date().toISOString() }) + '\n');

