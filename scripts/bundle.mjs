// Bundles the compiled CLI (dist/bin/zk2etcd.js and what it imports) into dist/cli/: the shipped CLI.
// Why: every CronJob run pays start-up, and Node 20 loads ~500 small module files one by one (about a
// third of a second, half of it file lookups and per-module work a bundle does not repeat). Each command
// keeps its own chunk, loaded only when run. Left out, loaded from node_modules as usual: packages that
// read files next to their own code (etcd3's .proto files, pino's worker transports), the native
// ZooKeeper addon, and the Kubernetes client (watcher only).
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';

const OUT = 'dist/cli';
rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: { zk2etcd: 'dist/bin/zk2etcd.js' },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['etcd3', 'pino', 'zookeeper', '@kubernetes/client-node'],
  // CommonJS packages inside an ES module bundle call require() for Node's own modules.
  banner: { js: "import { createRequire as __zk2etcdRequire } from 'node:module'; const require = __zk2etcdRequire(import.meta.url);" },
  chunkNames: 'chunks/[name]-[hash]',
  legalComments: 'none',
  // Stack traces map back to the TypeScript with NODE_OPTIONS=--enable-source-maps (off by default: it slows start-up).
  sourcemap: 'linked',
  logLevel: 'warning',
});
chmodSync(`${OUT}/zk2etcd.js`, 0o755);
