import { hash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';

/**
 * Runs the CLI's CommonJS bundle from V8's code cache, made by the build (`scripts/code-cache.mjs`): a
 * CronJob's run then skips compiling the bundle and most of its modules' set-up code (~0.06 s of its
 * start-up). Node 20 can cache code only for scripts compiled through `vm`, not for ES modules.
 *
 * The cache file holds the SHA-1 of the bundle it was made from and of its path, then V8's data. V8 itself
 * checks only the source's length (and its own version and flags), so an edited bundle of the same length
 * would run stale code; and code from a cache names the path it was compiled at in stack traces, so a
 * moved bundle would name its old place: the hash is checked first. A cache that does not match is
 * ignored and the bundle compiled as usual: `used`, `none` (no file), `stale` (another bundle, or moved)
 * or `rejected` (by V8: another Node).
 * With --enable-source-maps (stack traces in TypeScript) the bundle is required as usual, `off`: Node 20
 * maps only modules its loaders loaded.
 */
export type CodeCacheState = 'used' | 'none' | 'stale' | 'rejected' | 'off';

export interface LoadedBundle<T> {
  readonly exports: T;
  /** The compiled script (for `createCachedData`); absent when the cache is `off`. */
  readonly script?: vm.Script;
  readonly cache: CodeCacheState;
}

const HASH_BYTES = 20;

export const cacheFileOf = (bundle: string): string => `${bundle}.cache`;

const stamp = (source: Buffer, file: string): Buffer => hash('sha1', Buffer.concat([Buffer.from(`${file}\0`), source]), 'buffer');

/** The cache file's bytes for the bundle `source` at the absolute path `file`, as written by the build. */
export function cacheFileBytes(source: Buffer, file: string, data: Buffer): Buffer {
  return Buffer.concat([stamp(source, file), data]);
}

function cachedDataFor(source: Buffer, file: string): { data?: Buffer; state: CodeCacheState } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(cacheFileOf(file));
  } catch {
    return { state: 'none' };
  }
  if (bytes.length <= HASH_BYTES || !bytes.subarray(0, HASH_BYTES).equals(stamp(source, file))) return { state: 'stale' };
  return { data: bytes.subarray(HASH_BYTES), state: 'used' };
}

/** Compiles and runs the bundle at `file` as a CommonJS module; `useCache: false` ignores the cache file. */
export function loadBundle<T>(bundle: string, opts: { readonly useCache?: boolean } = {}): LoadedBundle<T> {
  const file = realpathSync(bundle); // one path for the build and every run, however the bundle is reached
  if (process.sourceMapsEnabled) return { exports: createRequire(file)(file) as T, cache: 'off' };
  const source = readFileSync(file);
  const { data, state } = opts.useCache === false ? { state: 'none' as const } : cachedDataFor(source, file);
  // No import() in the bundle (the build checks): code from a cache has no loader to call for it.
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source.toString('utf8')}\n})`;
  const script = new vm.Script(wrapped, { filename: file, cachedData: data });
  const cache = data && script.cachedDataRejected ? 'rejected' : state;
  const module = { exports: {} as T };
  const run = script.runInThisContext() as (exports: T, require: NodeJS.Require, module: { exports: T }, filename: string, dirname: string) => void;
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, script, cache };
}
