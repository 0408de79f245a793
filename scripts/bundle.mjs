// Bundles the compiled CLI (dist/bin/cli.js and what it imports) into dist/cli/: the shipped CLI.
// Why: every CronJob run pays start-up, and Node 20 loads ~500 small module files one by one (about a
// third of a second, half of it file lookups and per-module work a bundle does not repeat). The bundle is
// one CommonJS file, zk2etcd.cjs, run by a small launcher (zk2etcd.js, from bin/launch.ts) through V8's
// code cache, which `scripts/code-cache.mjs` writes next to it (see bin/load-bundle.ts): Node 20 caches
// compiled code only for scripts, not for ES modules. Modules load when first used (each command's own).
// Left out, loaded from node_modules as usual: the native ZooKeeper addon and the Kubernetes client
// (watcher only, ES modules, loaded with require(): see bin/load-bundle.ts). etcd3 is bundled with gRPC and protobufjs (~25 ms less
// start-up), with its .proto files parsed at build time (see `etcdProtoPrebuilt`).
// pino is bundled too (~10 ms): we log through a file descriptor, never through its worker transports,
// the one part that would look for files next to its code.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';

const OUT = 'dist/cli';

/** The options etcd3 (1.1.2, lib/connection-pool.js) passes to proto-loader. */
const ETCD_PROTO_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/**
 * etcd3 parses `${__dirname}/../proto/rpc.proto` (and the files it imports) when it is first imported:
 * ~12 ms of every run's start-up, and in a bundle that directory is ours. The bundle gets the parsed
 * definitions instead, as protobufjs JSON made here from the installed package, loaded by proto-loader's
 * fromJSON (the same steps as its loadSync after parsing). The build fails if etcd3 no longer makes that
 * call, or if the two ways give different services.
 */
function etcdProtoAsJson() {
  const require = createRequire(import.meta.url);
  const file = require.resolve('etcd3/proto/rpc.proto');
  const protobuf = require('protobufjs');
  const loader = require('@grpc/proto-loader');
  const json = new protobuf.Root().loadSync(file, ETCD_PROTO_OPTIONS).toJSON();
  const methods = (definition) =>
    JSON.stringify(Object.entries(definition).map(([name, d]) => [name, Object.entries(d).map(([m, v]) => [m, v.path, v.requestStream, v.responseStream])]));
  if (methods(loader.loadSync(file, ETCD_PROTO_OPTIONS)) !== methods(loader.fromJSON(json, ETCD_PROTO_OPTIONS))) {
    throw new Error(`${file}: proto-loader's fromJSON gives other services than its loadSync: update scripts/bundle.mjs`);
  }
  return JSON.stringify(json);
}

const etcdProtoPrebuilt = {
  name: 'etcd3-proto-prebuilt',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const from = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`, {';
      if (!src.includes(from)) throw new Error(`${args.path} no longer has ${from}: update scripts/bundle.mjs`);
      return { contents: src.replace(from, `(0, proto_loader_1.fromJSON)(${etcdProtoAsJson()}, {`), loader: 'js' };
    });
  },
};
rmSync(OUT, { recursive: true, force: true });
const cli = await build({
  entryPoints: { zk2etcd: 'dist/bin/cli.js' },
  outdir: OUT,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['zookeeper', '@kubernetes/client-node'],
  plugins: [etcdProtoPrebuilt],
  // Our modules find files and packages from import.meta.url: in CommonJS, from the bundle's own path.
  define: { 'import.meta.url': '__zk2etcdModuleUrl' },
  // "use strict" first: esbuild's own comes after the banner, where it would not count, and our modules
  // (and the bundled ES module packages) ran strict as ES modules.
  banner: { js: `"use strict";\nvar __zk2etcdModuleUrl = require('node:url').pathToFileURL(__filename).href;` },
  legalComments: 'none',
  // Stack traces map back to the TypeScript with NODE_OPTIONS=--enable-source-maps (off by default: it slows start-up).
  sourcemap: 'linked',
  logLevel: 'warning',
  metafile: true,
});
// Code run from V8's code cache has no loader for import() (bin/load-bundle.ts): bundled modules' import()
// becomes a require, and a package outside the bundle must be required too (createRequire).
for (const [input, { imports }] of Object.entries(cli.metafile.inputs)) {
  for (const i of imports) {
    if (i.kind === 'dynamic-import' && i.external) throw new Error(`${input}: import('${i.path}') of a package outside the bundle: load it with createRequire instead`);
  }
}
await build({
  entryPoints: { zk2etcd: 'dist/bin/launch.js' },
  outdir: OUT,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
});
chmodSync(`${OUT}/zk2etcd.js`, 0o755);
// A process of its own, without NODE_OPTIONS: V8 accepts a cache only under the flags it was made with,
// and the CLI runs with Node's defaults.
execFileSync(process.execPath, ['scripts/code-cache.mjs', `${OUT}/zk2etcd.cjs`], { stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: '' } });
