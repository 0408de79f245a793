// Bundles the compiled CLI (dist/bin/zk2etcd.js and what it imports) into dist/cli/: the shipped CLI.
// Why: every CronJob run pays start-up, and Node 20 loads ~500 small module files one by one (about a
// third of a second, half of it file lookups and per-module work a bundle does not repeat). Each command
// keeps its own chunk, loaded only when run. Left out, loaded from node_modules as usual: the native
// ZooKeeper addon and the Kubernetes client (watcher only). etcd3 is bundled with gRPC and protobufjs
// (~25 ms less start-up); its .proto files are still read from the installed package (see
// `etcdProtoFromPackage`). pino is bundled too (~10 ms): we log through a file descriptor, never through
// its worker transports, the one part that would look for files next to its code.
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const OUT = 'dist/cli';

/**
 * etcd3 loads `${__dirname}/../proto/rpc.proto` when it is first imported; in a bundle that directory is
 * ours. The path is resolved through the installed package instead (a dependency, so always there).
 */
const etcdProtoFromPackage = {
  name: 'etcd3-proto-from-package',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const from = '`${__dirname}/../proto/rpc.proto`';
      if (!src.includes(from)) throw new Error(`${args.path} no longer loads ${from}: update scripts/bundle.mjs`);
      return { contents: src.replace(from, "require.resolve('etcd3/proto/rpc.proto')"), loader: 'js' };
    });
  },
};
rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: { zk2etcd: 'dist/bin/zk2etcd.js' },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['zookeeper', '@kubernetes/client-node'],
  plugins: [etcdProtoFromPackage],
  // CommonJS packages inside an ES module bundle call require() for Node's own modules.
  banner: { js: "import { createRequire as __zk2etcdRequire } from 'node:module'; const require = __zk2etcdRequire(import.meta.url);" },
  chunkNames: 'chunks/[name]-[hash]',
  legalComments: 'none',
  // Stack traces map back to the TypeScript with NODE_OPTIONS=--enable-source-maps (off by default: it slows start-up).
  sourcemap: 'linked',
  logLevel: 'warning',
});
chmodSync(`${OUT}/zk2etcd.js`, 0o755);
