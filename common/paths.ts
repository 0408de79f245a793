/**
 * Path-segment matching (SPEC §2): prefix `/dubbo` covers `/dubbo` and `/dubbo/...`, never `/dubbo-admin`.
 */

/** True when `path` equals `prefix` or lies below it. The root `/` covers everything. */
export function covers(prefix: string, path: string): boolean {
  if (prefix === '/') return path.startsWith('/');
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f);
}

export function isExcluded(path: string, excludes: readonly string[]): boolean {
  for (const e of excludes) if (covers(e, path)) return true;
  return false;
}

/** ZooKeeper's own subtree is never mirrored, even under prefix `/`. */
export const ZK_SYSTEM_PREFIX = '/zookeeper';

/** True when a walk descends into `path`, the child of a mirrored node: not excluded, not ZooKeeper's own. */
export function isWalked(path: string, excludes: readonly string[]): boolean {
  return !isExcluded(path, excludes) && !covers(ZK_SYSTEM_PREFIX, path);
}

export function isSynced(path: string, prefixes: readonly string[], excludes: readonly string[]): boolean {
  if (covers(ZK_SYSTEM_PREFIX, path)) return false;
  let inside = false;
  for (const p of prefixes) if (covers(p, path)) inside = true;
  return inside && !isExcluded(path, excludes);
}

/** True for an etcd key whose ZooKeeper path is synced (under `etcdPrefix`, a prefix, no exclude). */
export function syncedKeyFilter(etcdPrefix: string, prefixes: readonly string[], excludes: readonly string[]): (key: string) => boolean {
  const mapper = keyMapper(etcdPrefix);
  return (key) => {
    const path = mapper.toPath(key);
    return path !== null && isSynced(path, prefixes, excludes);
  };
}

export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** The parent path and the last segment of a path other than `/`. */
export function splitPath(path: string): { parent: string; name: string } {
  return { parent: parentOf(path), name: path.slice(path.lastIndexOf('/') + 1) };
}

/** The parent path of a path other than `/`. */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i === 0 ? '/' : path.slice(0, i);
}

/** Returns a problem description, or null when `p` is a well-formed absolute ZooKeeper path. */
export function pathProblem(p: string): string | null {
  if (!p.startsWith('/')) return `"${p}" must start with /`;
  if (p.length > 1 && p.endsWith('/')) return `"${p}" must not end with /`;
  if (p.includes('//')) return `"${p}" must not contain an empty segment (//)`;
  if (p.includes('\0')) return `"${p}" must not contain NUL`;
  for (const seg of p.split('/').slice(1)) {
    if (seg === '.' || seg === '..') return `"${p}" must not contain . or .. segments`;
  }
  return null;
}

/**
 * etcd key ranges for one mirrored prefix: the prefix key itself and `[key + '/', key + '0')`
 * ('0' is '/' + 1), so a sibling such as `/dubbo-admin` is never listed.
 */
export function etcdRangesFor(etcdPrefix: string, zkPrefix: string): { exact: Buffer | null; start: Buffer; end: Buffer } {
  if (zkPrefix === '/') {
    return { exact: null, start: Buffer.from(`${etcdPrefix}/`), end: Buffer.from(`${etcdPrefix}0`) };
  }
  const base = etcdPrefix + zkPrefix;
  return { exact: Buffer.from(base), start: Buffer.from(`${base}/`), end: Buffer.from(`${base}0`) };
}

/** Maps between ZooKeeper paths and etcd keys: key = etcdPrefix + path. */
export interface KeyMapper {
  toKey(path: string): string;
  /** The ZooKeeper path for an etcd key, or null when the key is not under the etcd prefix. */
  toPath(key: string): string | null;
}

export function keyMapper(etcdPrefix: string): KeyMapper {
  return {
    toKey: (path) => etcdPrefix + path,
    toPath: (key) => (key.startsWith(etcdPrefix) ? key.slice(etcdPrefix.length) : null),
  };
}
