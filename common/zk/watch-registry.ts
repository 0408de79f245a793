import type { WatchCallback } from './reader.js';

/** Which read left the watch: getData, exists or getChildren. */
export type WatchKind = 'data' | 'exists' | 'child';
/** ZooKeeper's watch events, as the `zookeeper` addon names them on its default watcher. */
export type WatchEvent = 'created' | 'deleted' | 'changed' | 'child';

// Which watches an event triggers (ZooKeeper's client rules): a delete ends every watch on the node.
const TRIGGERS: Readonly<Record<WatchEvent, readonly WatchKind[]>> = {
  created: ['exists'],
  changed: ['data', 'exists'],
  deleted: ['data', 'exists', 'child'],
  child: ['child'],
};

/**
 * One-shot watch callbacks by path, fired from the session's single default watcher. The addon keeps
 * every per-call watch function it is given forever (node-zookeeper never frees a fired watcher's
 * callback), so per-call watches leak one closure per event; reads with `watch: true` and this table do not.
 */
export class WatchRegistry {
  private readonly byKind: Record<WatchKind, Map<string, WatchCallback[]>> = { data: new Map(), exists: new Map(), child: new Map() };

  /** Called once the read that set the watch succeeded, before any later event can be delivered. */
  arm(kind: WatchKind, path: string, cb: WatchCallback): void {
    const map = this.byKind[kind];
    const list = map.get(path);
    if (list) list.push(cb);
    else map.set(path, [cb]);
  }

  /** Runs and forgets every callback the event triggers on `path`. */
  fire(event: WatchEvent, path: string): void {
    const due: WatchCallback[] = [];
    for (const kind of TRIGGERS[event]) {
      const list = this.byKind[kind].get(path);
      if (!list) continue;
      this.byKind[kind].delete(path);
      due.push(...list);
    }
    for (const cb of due) cb();
  }

  /** The session ended: the server dropped its watches, and none of these callbacks will fire. */
  clear(): void {
    for (const map of Object.values(this.byKind)) map.clear();
  }

  /** Watches the server holds for these callbacks: data and exists watches share its table (one per path), child watches another. */
  get armed(): number {
    let shared = this.byKind.data.size;
    for (const path of this.byKind.exists.keys()) if (!this.byKind.data.has(path)) shared++;
    return shared + this.byKind.child.size;
  }

  /** Callbacks waiting (for tests and leak checks). */
  get size(): number {
    let n = 0;
    for (const map of Object.values(this.byKind)) for (const list of map.values()) n += list.length;
    return n;
  }
}
