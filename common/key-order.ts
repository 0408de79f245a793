/**
 * etcd orders keys by their UTF-8 bytes, which is code point order. JavaScript's `<` compares UTF-16
 * code units, which differs only where a surrogate (a code point above U+FFFF) meets U+E000..U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  // Without surrogates every unit is its code point: the native comparison is the order (and much
  // faster than the loop below, which a layout runs ~50,000 times over keys sharing long prefixes).
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

const SURROGATE = /[\ud800-\udfff]/;

// Surrogates move above every other BMP unit; U+E000..U+FFFF move down to make room.
function rank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

/** A half-open key range [from, to) in etcd's order. */
export interface KeySpan {
  readonly from: string;
  readonly to: string;
}
