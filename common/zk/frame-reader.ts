/** Incoming bytes kept as a list of chunks, so a large reply is joined once, not on every read. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private total = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  get available(): number {
    return this.total;
  }

  /** The bytes at [offset, offset + n) without consuming them; null when not all have arrived. */
  peek(offset: number, n: number): Buffer | null {
    if (this.total < offset + n) return null;
    const first = this.chunks[0] as Buffer;
    if (first.length >= offset + n) return first.subarray(offset, offset + n);
    return this.join(offset + n).subarray(offset, offset + n);
  }

  /** Consumes and returns the next n bytes (n must be available). */
  take(n: number): Buffer {
    const out = this.join(n).subarray(0, n);
    this.drop(n);
    return out;
  }

  /** Consumes up to n bytes; returns how many were dropped. */
  drop(n: number): number {
    let left = Math.min(n, this.total);
    const dropped = left;
    while (left > 0) {
      const first = this.chunks[0] as Buffer;
      if (first.length <= left) {
        this.chunks.shift();
        left -= first.length;
      } else {
        this.chunks[0] = first.subarray(left);
        left = 0;
      }
    }
    this.total -= dropped;
    return dropped;
  }

  clear(): void {
    this.chunks = [];
    this.total = 0;
  }

  /** Makes the first chunk hold at least n bytes. */
  private join(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first;
    let size = 0;
    let count = 0;
    while (size < n) size += (this.chunks[count++] as Buffer).length;
    const joined = Buffer.concat(this.chunks.slice(0, count), size);
    this.chunks.splice(0, count, joined);
    return joined;
  }
}
