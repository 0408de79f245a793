import { splitPath } from '../../common/paths.js';
import type { WatchCallback, ZkNode, ZkWatchReader } from '../../common/zk/reader.js';

interface MemNode {
  data: Buffer;
  ephemeral: boolean;
  mzxid: number;
  children: Set<string>;
}

export type ReadKind = 'get' | 'children' | 'exists';

/**
 * An in-memory ZooKeeper with one-shot watches, as one session sees it: a read is answered from the tree
 * as it is when the read is made, a watch fires once on the next change it covers (a data watch on a set
 * or delete, a child watch on a child created or deleted or the node deleted, an exists watch on create,
 * set or delete), and replies and watch events reach the client in order, one per `step()`. Between
 * steps a test changes the tree, so every interleaving of changes, reads and events can be driven.
 */
export class MemZk {
  private readonly nodes = new Map<string, MemNode>();
  private readonly dataWatches = new Map<string, WatchCallback[]>();
  private readonly childWatches = new Map<string, WatchCallback[]>();
  private readonly existsWatches = new Map<string, WatchCallback[]>();
  private readonly wire: (() => void)[] = [];
  private zxid = 0;
  /** Called as each read is made, before it is answered: a test may change the tree here. */
  beforeRead: (kind: ReadKind, path: string) => void = () => undefined;
  /** Called right after a read was answered (its reply still on the wire). */
  afterRead: (kind: ReadKind, path: string) => void = () => undefined;

  constructor() {
    this.nodes.set('/', { data: Buffer.alloc(0), ephemeral: false, mzxid: 0, children: new Set() });
  }

  readonly reader: ZkWatchReader = this.sessionReader();

  private sessionReader(): ZkWatchReader {
    const zk = this;
    return {
      get armedWatches() {
        return zk.armedWatches;
      },
      get: async (path) => zk.read('get', path, () => zk.stat(path), null),
      children: async (path) => zk.read('children', path, () => zk.childList(path), null),
      // A read of an absent node leaves no data or child watch; an exists watch is left either way.
      getW: async (path, cb) => zk.read('get', path, () => zk.stat(path), { map: zk.dataWatches, cb, ifAbsent: false }),
      childrenW: async (path, cb) => zk.read('children', path, () => zk.childList(path), { map: zk.childWatches, cb, ifAbsent: false }),
      existsW: async (path, cb) => zk.read('exists', path, () => zk.nodes.has(path), { map: zk.existsWatches, cb, ifAbsent: true }),
    };
  }

  create(path: string, data = '', ephemeral = false): void {
    const { parent, name } = splitPath(path);
    const up = this.nodes.get(parent);
    if (!up || this.nodes.has(path)) throw new Error(`cannot create ${path}`);
    this.nodes.set(path, { data: Buffer.from(data), ephemeral, mzxid: ++this.zxid, children: new Set() });
    up.children.add(name);
    this.fire(this.existsWatches, path);
    this.fire(this.childWatches, parent);
  }

  set(path: string, data: string): void {
    const node = this.nodes.get(path);
    if (!node) throw new Error(`cannot set ${path}`);
    node.data = Buffer.from(data);
    node.mzxid = ++this.zxid;
    this.fire(this.dataWatches, path);
    this.fire(this.existsWatches, path);
  }

  remove(path: string): void {
    const node = this.nodes.get(path);
    if (!node || node.children.size > 0) throw new Error(`cannot remove ${path}`);
    this.nodes.delete(path);
    const { parent, name } = splitPath(path);
    this.nodes.get(parent)?.children.delete(name);
    this.fire(this.dataWatches, path);
    this.fire(this.childWatches, path);
    this.fire(this.existsWatches, path);
    this.fire(this.childWatches, parent);
  }

  has(path: string): boolean {
    return this.nodes.has(path);
  }

  /** Every node under `root` (included) with its data and whether it is ephemeral. */
  tree(root: string): Map<string, { data: string; ephemeral: boolean }> {
    const out = new Map<string, { data: string; ephemeral: boolean }>();
    for (const [path, n] of this.nodes) if (path === root || path.startsWith(`${root}/`)) out.set(path, { data: n.data.toString(), ephemeral: n.ephemeral });
    return out;
  }

  childrenOf(path: string): string[] {
    return [...(this.nodes.get(path)?.children ?? [])];
  }

  /** Watches the server holds for the session: data and exists watches share a table (one per path), child watches another. */
  get armedWatches(): number {
    const dataTable = new Set([...this.dataWatches.keys(), ...this.existsWatches.keys()]);
    return dataTable.size + this.childWatches.size;
  }

  /** Replies and events not yet delivered. */
  get inFlight(): number {
    return this.wire.length;
  }

  /** Delivers the next reply or watch event; false when there was none. */
  step(): boolean {
    const next = this.wire.shift();
    next?.();
    return next !== undefined;
  }

  private stat(path: string): ZkNode | null {
    const n = this.nodes.get(path);
    if (!n) return null;
    return { data: n.data, ephemeral: n.ephemeral, numChildren: n.children.size, version: 0, mzxid: n.mzxid, childList: { pzxid: 0, cversion: 0 } };
  }

  private childList(path: string): string[] | null {
    const n = this.nodes.get(path);
    return n ? [...n.children] : null;
  }

  private read<T>(kind: ReadKind, path: string, answer: () => T, watch: { map: Map<string, WatchCallback[]>; cb: WatchCallback; ifAbsent: boolean } | null): Promise<T> {
    this.beforeRead(kind, path);
    const result = answer();
    if (watch && (watch.ifAbsent || this.nodes.has(path))) watch.map.set(path, [...(watch.map.get(path) ?? []), watch.cb]);
    this.afterRead(kind, path);
    return new Promise((resolve) => this.wire.push(() => resolve(result)));
  }

  private fire(map: Map<string, WatchCallback[]>, path: string): void {
    const callbacks = map.get(path) ?? [];
    map.delete(path);
    for (const cb of callbacks) this.wire.push(cb);
  }
}
