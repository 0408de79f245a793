/**
 * Which side each key was seen on (etcd, ZooKeeper) without keeping the keys (10^6 keys of ~1 KB would be
 * a gigabyte): a 53-bit hash of each key, computed once per key. A collision (about 1 in 20,000 runs at
 * 10^6 keys) makes an unseen key look seen; callers use it only where that errs on the safe side (a stale
 * record kept), so the hash need not resist crafted keys.
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

/** The UTF-8 bytes of the key being hashed, read 32 bits at a time; grown for a longer key. */
let scratch = Buffer.alloc(16 * 1024);
let words = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >> 2);

/**
 * Two 32-bit lanes of MurmurHash3's mixing (with different constants) over the key's UTF-8 bytes taken 32
 * bits at a time, seeded with their count so trailing NUL bytes still count; 53 bits of the result. A
 * third of SHA-1's time through node:crypto for ~1 KB keys, where a reconcile hashes every key it sees.
 * Stable within a process only (platform byte order), which is all a run needs.
 */
export function keyHash(key: string): number {
  if (key.length * 3 + 4 > scratch.length) {
    scratch = Buffer.alloc(2 ** Math.ceil(Math.log2(key.length * 3 + 4)));
    words = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >> 2);
  }
  const n = scratch.write(key, 0);
  const w = (n + 3) >> 2;
  scratch.fill(0, n, w << 2);
  let h1 = 0x9747b28c ^ n;
  let h2 = 0x2f6b3c1d ^ n;
  for (let i = 0; i < w; i++) {
    const x = words[i] as number;
    let k = Math.imul(x, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h1 ^= k;
    h1 = (Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64) | 0;
    let j = Math.imul(x, 0x85ebca6b);
    j = Math.imul((j << 17) | (j >>> 15), 0xc2b2ae35);
    h2 ^= j;
    h2 = (Math.imul((h2 << 11) | (h2 >>> 21), 9) + 0x7feb352d) | 0;
  }
  h1 = finalMix(h1 ^ n);
  h2 = finalMix(h2 ^ Math.imul(n, 31));
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  return 4294967296 * (0x1fffff & h2) + (h1 >>> 0);
}

/** MurmurHash3's fmix32: every input bit reaches every output bit. */
function finalMix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return x ^ (x >>> 16);
}
