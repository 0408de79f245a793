import type { Config } from './config/types.js';
import type { KeyRange } from './etcd/store.js';
import { SourceMissingError } from './errors.js';
import { compareKeys, type KeySpan } from './key-order.js';
import { childPath, isWalked } from './paths.js';
import { readAll } from './zk/read-all.js';
import type { ChildListStamps, ZkNode, ZkReader } from './zk/reader.js';

/**
 * A full reconcile works through a prefix in chunks, so it never holds the whole tree: each chunk is a
 * span of etcd's key order, read from etcd, walked in ZooKeeper, planned, confirmed and applied on its own.
 */
export interface Chunk {
  /** Keys in [from, to) of the prefix's block `[base + '/', base + '0')`. */
  readonly span: KeySpan;
  /** The prefix's own key (outside the block), carried by the first chunk; null otherwise and for `/`. */
  readonly exact: string | null;
  readonly ranges: readonly KeyRange[];
  /** Subtrees walked whole: their descendants' keys are in this chunk. */
  readonly walk: readonly string[];
  /** Of those, the ones whose own key is in another chunk (dropped after the walk). */
  readonly notOwn: readonly string[];
  /** Nodes read on their own: interior nodes and subtree roots whose key, but not their subtree, is here. */
  readonly ownOnly: readonly string[];
}

export interface PrefixLayout {
  readonly prefix: string;
  /** Nodes expanded to find the chunk boundaries; empty when the prefix's single chunk walks it whole. */
  readonly interior: readonly string[];
  /** The interior nodes' stamps, each read before its list: the chunks' confirmations start from them. */
  readonly stamps: ChildListStamps;
  readonly chunks: readonly Chunk[];
}

export type LayoutOptions = Pick<Config['zookeeper'], 'excludes' | 'allowEmptySource'> & {
  readonly etcdPrefix: string;
  readonly concurrency: number;
  readonly signal?: AbortSignal | undefined;
};

/** Expand until this many subtrees are known (or MAX_DEPTH levels). */
const MIN_UNITS = 256;
const MAX_DEPTH = 4;
/** Subtrees per chunk, and the most chunks per prefix. */
const UNITS_PER_CHUNK = 32;
const MAX_CHUNKS = 128;

/** The key of a path (etcd prefix + path), and the block of keys below it. */
export function blockOf(etcdPrefix: string, path: string): { key: string; from: string; to: string } {
  const base = path === '/' ? etcdPrefix : etcdPrefix + path;
  return { key: etcdPrefix + path, from: `${base}/`, to: `${base}0` };
}

/**
 * Lists the prefix breadth-first until enough subtrees (units) are known, then cuts its key block at the
 * keys of evenly spaced units. A unit's block `[key/, key0)` holds no other unit's key, so no boundary
 * falls inside one: each chunk walks whole subtrees.
 */
export async function layoutPrefix(zk: ZkReader, prefix: string, opts: LayoutOptions): Promise<PrefixLayout> {
  const interior: string[] = [];
  const stamps: ChildListStamps = new Map();
  const units: string[] = [];
  let frontier = [prefix];
  for (let depth = 0; depth < MAX_DEPTH && frontier.length > 0 && units.length + frontier.length < MIN_UNITS; depth++) {
    // Each node's stamp, read before its list (as the walk does). Without it every chunk's confirmation
    // would list an interior parent again to confirm its keys: 10,000 names per chunk for a 1M registry's root.
    const nodes = await readAll(zk, frontier.map((path) => ({ kind: 'data', path })), opts.concurrency, opts.signal);
    const lists = await readAll(zk, frontier.map((path) => ({ kind: 'children', path })), opts.concurrency, opts.signal);
    const next: string[] = [];
    frontier.forEach((path, i) => {
      const names = lists[i] as string[] | null;
      if (names === null) {
        if (path === prefix && !opts.allowEmptySource) throw new SourceMissingError(prefix);
        return; // vanished: its keys, if any, are extras the chunk holding them confirms
      }
      const kids = names.map((name) => childPath(path, name)).filter((child) => isWalked(child, opts.excludes));
      if (kids.length === 0) units.push(path);
      else {
        interior.push(path);
        const node = nodes[i] as ZkNode | null; // null: created between the two reads, no stamp to trust
        if (node) stamps.set(path, node.childList);
        next.push(...kids);
      }
    });
    frontier = next;
  }
  units.push(...frontier);
  if (interior.length === 0) return { prefix, interior, stamps, chunks: [chunkOf(opts.etcdPrefix, prefix, null, null, { walk: [prefix], notOwn: [], ownOnly: [] })] };
  return { prefix, interior, stamps, chunks: cutBlock(opts.etcdPrefix, prefix, interior, units) };
}

/**
 * Pure: the chunks of a prefix's block, cut at the keys of evenly spaced units (subtrees not expanded),
 * each unit and interior node assigned to the chunk(s) holding its key and its subtree's keys.
 */
export function cutBlock(etcdPrefix: string, prefix: string, interior: readonly string[], units: readonly string[]): Chunk[] {
  const keyOf = (path: string) => etcdPrefix + path;
  const sorted = units.map((path) => ({ path, key: keyOf(path) })).sort((a, b) => compareKeys(a.key, b.key));
  const count = Math.max(1, Math.min(MAX_CHUNKS, Math.ceil(sorted.length / UNITS_PER_CHUNK)));
  const step = sorted.length / count;
  const bounds: string[] = [];
  for (let i = 1; i < count; i++) {
    const key = (sorted[Math.floor(i * step)] as { key: string }).key;
    if (bounds.length === 0 || compareKeys(bounds[bounds.length - 1] as string, key) < 0) bounds.push(key);
  }
  const parts = Array.from({ length: bounds.length + 1 }, () => ({ walk: [] as string[], notOwn: [] as string[], ownOnly: [] as string[] }));
  // The chunk whose span holds `key` (every key of the block is in exactly one).
  const holder = (key: string): number => {
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(bounds[mid] as string, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const block = blockOf(etcdPrefix, prefix);
  for (const path of interior) {
    const key = keyOf(path);
    parts[key === block.key ? 0 : holder(key)]?.ownOnly.push(path);
  }
  for (const { path, key } of sorted) {
    const own = holder(key);
    const below = holder(`${key}/`);
    const part = parts[below] as (typeof parts)[number];
    part.walk.push(path);
    if (own !== below) {
      part.notOwn.push(key);
      parts[own]?.ownOnly.push(path);
    }
  }
  return parts.map((part, i) => chunkOf(etcdPrefix, prefix, i === 0 ? null : (bounds[i - 1] as string), i === bounds.length ? null : (bounds[i] as string), part));
}

function chunkOf(etcdPrefix: string, prefix: string, from: string | null, to: string | null, part: Pick<Chunk, 'walk' | 'notOwn' | 'ownOnly'>): Chunk {
  const block = blockOf(etcdPrefix, prefix);
  const exact = from === null && prefix !== '/' ? block.key : null;
  const span = { from: from ?? block.from, to: to ?? block.to };
  return {
    span,
    exact,
    ranges: [{ exact: exact === null ? null : Buffer.from(exact), start: Buffer.from(span.from), end: Buffer.from(span.to) }],
    ...part,
  };
}
