import { hash } from 'node:crypto';

/**
 * Which side each key was seen on (etcd, ZooKeeper) without keeping the keys (10^6 keys of ~1 KB would be
 * a gigabyte): 48 bits of a key's SHA-1, computed once per key. A collision (about 1 in 500 at 10^6 keys)
 * makes an unseen key look seen; callers use it only where that errs on the safe side (a stale record kept).
 */
export class SeenKeys {
  /** hash -> bit 1: in etcd, bit 2: in ZooKeeper. */
  private readonly sides = new Map<number, number>();

  mark(key: string, inEtcd: boolean, inZk: boolean): void {
    const h = keyHash(key);
    this.sides.set(h, (this.sides.get(h) ?? 0) | (inEtcd ? 1 : 0) | (inZk ? 2 : 0));
  }

  sidesOf(key: string): { readonly inEtcd: boolean; readonly inZk: boolean } {
    const bits = this.sides.get(keyHash(key)) ?? 0;
    return { inEtcd: (bits & 1) !== 0, inZk: (bits & 2) !== 0 };
  }

  get size(): number {
    return this.sides.size;
  }
}

export function keyHash(key: string): number {
  return hash('sha1', key, 'buffer').readUIntLE(0, 6);
}
