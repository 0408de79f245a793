// Writes V8's code cache for the CLI bundle (argv[2]; see bin/load-bundle.ts): the bundle compiled and its
// one-shot commands' modules set up, as a CronJob's run starts, without running a command.
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { cacheFileBytes, cacheFileOf, loadBundle } from '../dist/bin/load-bundle.js';

if (!process.argv[2]) throw new Error('usage: node scripts/code-cache.mjs <bundle.cjs>');
const file = realpathSync(resolve(process.argv[2])); // as loadBundle sees it
const bundle = loadBundle(file, { useCache: false });
if (!bundle.script) throw new Error('no code cache can be made with --enable-source-maps (NODE_OPTIONS): build without it');
await bundle.exports.preloadOneShot();
writeFileSync(cacheFileOf(file), cacheFileBytes(readFileSync(file), file, bundle.script.createCachedData()));
