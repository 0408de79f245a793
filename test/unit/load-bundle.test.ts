import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { cacheFileBytes, cacheFileOf, loadBundle, type CodeCacheState } from '../../bin/load-bundle.js';

// A bundle as esbuild writes one: CommonJS, with require and __filename.
const SOURCE = `'use strict';
exports.answer = [1, 2, 3].map((n) => n * 7).reduce((a, b) => a + b);
exports.file = __filename;
exports.sep = () => require('node:path').sep;
`;

function workDir(): string {
  return mkdtempSync(join(tmpdir(), 'zk2etcd-load-bundle-'));
}

/** Writes the bundle and a cache made from it, as scripts/code-cache.mjs does (in a process of its own). */
function built(dir: string): string {
  const file = join(dir, 'bundle.cjs');
  writeFileSync(file, SOURCE);
  inChild(file, 'write');
  return file;
}

const LOADER = fileURLToPath(new URL('../../bin/load-bundle.js', import.meta.url));

/**
 * Loads the bundle in a new process, as the CLI starts: within one process V8 keeps what it compiled, and
 * would not even read the cache for a source it has seen.
 */
function inChild(file: string, mode: 'write' | 'load', flags: readonly string[] = []): { cache: CodeCacheState; answer: number; file: string; sep: string } {
  const script = `
    const { cacheFileBytes, cacheFileOf, loadBundle } = await import(${JSON.stringify(LOADER)});
    const { readFileSync, writeFileSync } = await import('node:fs');
    const file = (await import('node:fs')).realpathSync(${JSON.stringify(file)}); // as scripts/code-cache.mjs
    if (${JSON.stringify(mode)} === 'write') {
      const b = loadBundle(file, { useCache: false });
      writeFileSync(cacheFileOf(file), cacheFileBytes(readFileSync(file), file, b.script.createCachedData()));
    } else {
      const b = loadBundle(file);
      console.log(JSON.stringify({ cache: b.cache, answer: b.exports.answer, file: b.exports.file, sep: b.exports.sep() }));
    }`;
  const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' });
  return mode === 'write' ? ({} as never) : (JSON.parse(out) as ReturnType<typeof inChild>);
}

/** Each case changes the built bundle or its cache; a case that moves them returns the new path. */
const cases: { name: string; change: (file: string) => string | void; flags?: string[]; want: CodeCacheState }[] = [
  { name: 'as built', change: () => {}, want: 'used' },
  // Stack traces through the source map: Node 20 maps only what its own loaders loaded.
  { name: 'with --enable-source-maps', change: () => {}, flags: ['--enable-source-maps'], want: 'off' },
  { name: 'no cache file', change: (file) => rmSync(cacheFileOf(file)), want: 'none' },
  // Same length, other code: V8 alone would accept the cache (it checks the length) and run stale code.
  { name: 'a bundle edited to the same length', change: (file) => writeFileSync(file, SOURCE.replace('n * 7', 'n * 8')), want: 'stale' },
  {
    // Code from a cache names the path it was compiled at in stack traces: a moved bundle compiles anew.
    name: 'bundle and cache moved together to another directory',
    change: (file) => {
      const moved = join(dirname(file), 'moved', 'bundle.cjs');
      mkdirSync(dirname(moved));
      renameSync(file, moved);
      renameSync(cacheFileOf(file), cacheFileOf(moved));
      return moved;
    },
    want: 'stale',
  },
  { name: 'a cache file shorter than its hash', change: (file) => writeFileSync(cacheFileOf(file), Buffer.alloc(8)), want: 'stale' },
  {
    name: 'data V8 does not accept (another Node, or damaged)',
    change: (file) => writeFileSync(cacheFileOf(file), cacheFileBytes(readFileSync(file), file, Buffer.from('not a code cache at all'))),
    want: 'rejected',
  },
];

describe('loadBundle: runs the CLI bundle from its code cache only when the cache is of that bundle', () => {
  for (const c of cases) {
    test(c.name, (t) => {
      const dir = workDir();
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const file = c.change(built(dir)) ?? join(dir, 'bundle.cjs');
      const run = inChild(file, 'load', c.flags);
      assert.equal(run.cache, c.want);
      // Whatever the cache, the bundle runs: its own code (the edited one, when edited), with its path.
      assert.equal(run.answer, readFileSync(file, 'utf8').includes('n * 8') ? 48 : 42);
      assert.equal(run.file, realpathSync(file));
      assert.equal(run.sep, join('a', 'b').charAt(1));
    });
  }

  test('useCache: false ignores a matching cache', (t) => {
    const dir = workDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(loadBundle(built(dir), { useCache: false }).cache, 'none');
  });
});
