/**
 * Both sides of a chunk as lists sorted by key, matched by a merge. Matching by map hashed every key on
 * both sides: ~1 KB each in a Dubbo registry, the largest cost of an in-sync diff after the reads.
 * The order here is JavaScript's (UTF-16 code units), not etcd's: the two differ only for keys with
 * characters above U+FFFF, which `inKeyOrder` sorts like any other list that is out of order.
 */

export interface Keyed {
  readonly key: string;
}

/** A ZooKeeper node the walk read: its etcd key and data. */
export interface DesiredEntry extends Keyed {
  readonly value: Buffer;
}

/** JavaScript's order of two entries' keys (see above), for sorts. */
export const byKey = (a: Keyed, b: Keyed): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** The list itself when its keys are strictly increasing; otherwise a sorted copy, a repeated key kept once (its last entry, as a map would). */
export function inKeyOrder<T extends Keyed>(list: readonly T[]): readonly T[] {
  let ordered = true;
  for (let i = 1; i < list.length && ordered; i++) ordered = (list[i - 1] as T).key < (list[i] as T).key;
  if (ordered) return list;
  const sorted = [...list].sort(byKey); // stable: of equal keys the last stays last
  const out: T[] = [];
  for (const entry of sorted) {
    if (out.length > 0 && (out[out.length - 1] as T).key === entry.key) out[out.length - 1] = entry;
    else out.push(entry);
  }
  return out;
}

/**
 * Visits every key of either list once, in key order, with its entry on each side (undefined where
 * absent). Both lists must be in key order (`inKeyOrder`).
 */
export function mergeSides<D extends Keyed, C extends Keyed>(
  desired: readonly D[],
  current: readonly C[],
  visit: (key: string, want: D | undefined, have: C | undefined) => void,
): void {
  let i = 0;
  let j = 0;
  while (i < desired.length || j < current.length) {
    const d = desired[i];
    const c = current[j];
    if (d !== undefined && c !== undefined && d.key === c.key) {
      visit(d.key, d, c);
      i++;
      j++;
    } else if (d !== undefined && (c === undefined || d.key < c.key)) {
      visit(d.key, d, undefined);
      i++;
    } else {
      const only = c as C;
      visit(only.key, undefined, only);
      j++;
    }
  }
}
