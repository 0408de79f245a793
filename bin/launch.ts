#!/usr/bin/env node
// The shipped CLI (dist/cli/zk2etcd.js): runs the bundle next to it (zk2etcd.cjs) from its code cache.
import { fileURLToPath } from 'node:url';
import { loadBundle } from './load-bundle.js';

interface Cli {
  runCli(codeCache?: string): void;
}

function main(): void {
  const bundle = loadBundle<Cli>(fileURLToPath(new URL('./zk2etcd.cjs', import.meta.url)));
  bundle.exports.runCli(bundle.cache);
}

try {
  main();
} catch (err) {
  process.stderr.write(`zk2etcd: cannot start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
