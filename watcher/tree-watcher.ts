import type { Logger } from '../common/logger.js';
import { childPath, isSynced, splitPath } from '../common/paths.js';
import { createLimiter } from '../common/pool.js';
import type { ZkNode, ZkWatchReader } from '../common/zk/reader.js';

/** What the mirror keeps per znode: enough to tell a change from a re-read, not the data. */
interface MirrorNode {
  mzxid: number;
  children: string[];
  skipped: boolean;
}

export interface TreeWatcherOptions {
  readonly prefixes: readonly string[];
  readonly excludes: readonly string[];
  readonly skipEphemeral: boolean;
  readonly concurrency: number;
  readonly logger: Logger;
  /**
   * The latest state of one path: its data, or null when it is gone. Called in per-path order. `mzxid`: the
   * state's zxid, for the event log (the one-shot watches give none for a deletion).
   */
  readonly onChange: (path: string, data: Buffer | null, mzxid?: number) => void;
  /** A read failed (not "no node"): the owner decides (usually: rebuild the session). */
  readonly onError: (err: unknown) => void;
}

type Kind = 'data' | 'child';

/**
 * Mirrors the subtrees under the prefixes with one-shot data and child watches on every node. Each
 * watch is re-armed only by its own event, by re-reading the node; the watcher then acts on the
 * difference between what it read and the mirror, so a change between the event and the re-arm is
 * not lost. New subtrees are loaded and watched to full depth; a deleted prefix root is watched for
 * re-creation.
 */
export class TreeWatcher {
  private readonly nodes = new Map<string, MirrorNode>();
  private readonly running = new Map<string, boolean>(); // `${kind}:${path}` -> rerun requested
  private readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;
  private stopped = false;

  constructor(
    private readonly zk: ZkWatchReader,
    private readonly opts: TreeWatcherOptions,
  ) {
    this.limit = createLimiter(opts.concurrency);
  }

  /** Loads every prefix with watches, reporting each node through onChange. */
  async start(): Promise<void> {
    await Promise.all(this.opts.prefixes.map((p) => this.loadRoot(p)));
  }

  stop(): void {
    this.stopped = true;
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Armed one-shot watches, for the metrics: the session's count, which no interleaving of reads and events can skew. */
  get watchCount(): number {
    return this.zk.armedWatches;
  }

  /** Paths currently mirrored (for tests and the post-recovery comparison). */
  paths(): IterableIterator<string> {
    return this.nodes.keys();
  }

  private async loadRoot(root: string): Promise<void> {
    const exists = await this.limit(() => this.zk.existsW(root, this.onEvent('child', root)));
    if (exists) await this.load(root);
  }

  // Loads queued behind the limiter when stop() is called skip their reads and report nothing.
  private async load(path: string): Promise<void> {
    if (this.stopped) return;
    const node = await this.limit(() => (this.stopped ? Promise.resolve(null) : this.zk.getW(path, this.onEvent('data', path))));
    if (this.stopped) return;
    if (node === null) {
      // Gone before it was read: forget its name in the parent's list, so the parent's next read (its
      // child watch fired with the delete) loads a re-created node as new.
      this.forgetName(path);
      return;
    }
    const entry: MirrorNode = { mzxid: node.mzxid, children: [], skipped: this.opts.skipEphemeral && node.ephemeral };
    this.nodes.set(path, entry);
    if (!entry.skipped) this.opts.onChange(path, node.data, node.mzxid);
    const names = await this.limit(() => (this.stopped ? Promise.resolve(null) : this.zk.childrenW(path, this.onEvent('child', path))));
    if (this.stopped || this.nodes.get(path) !== entry) return;
    if (names === null) {
      // Deleted after its data read: no child watch could be set, so drop it; a re-creation is loaded as new.
      this.gone(path);
      if (this.opts.prefixes.includes(path)) await this.loadRoot(path);
      return;
    }
    entry.children = this.synced(path, names);
    await Promise.all(entry.children.map((name) => this.load(childPath(path, name))));
  }

  private synced(parent: string, names: readonly string[]): string[] {
    return names.filter((n) => isSynced(childPath(parent, n), this.opts.prefixes, this.opts.excludes));
  }

  /** A watch fired: refresh that kind for that path, coalescing repeats while one runs. */
  private event(kind: Kind, path: string): void {
    if (this.stopped) return;
    const id = `${kind}:${path}`;
    if (this.running.has(id)) {
      this.running.set(id, true);
      return;
    }
    this.running.set(id, false);
    const loop = async (): Promise<void> => {
      do {
        this.running.set(id, false);
        await (kind === 'data' ? this.refreshData(path) : this.refreshChildren(path));
      } while (this.running.get(id) === true && !this.stopped);
      this.running.delete(id);
    };
    loop().catch((err: unknown) => {
      this.running.delete(id);
      if (!this.stopped) this.opts.onError(err);
    });
  }

  private async refreshData(path: string): Promise<void> {
    const entry = this.nodes.get(path);
    if (!entry) return;
    const node: ZkNode | null = await this.limit(() => this.zk.getW(path, this.onEvent('data', path)));
    if (this.nodes.get(path) !== entry) return; // replaced or removed while reading: that path already acted
    if (node === null) {
      this.gone(path);
      if (this.opts.prefixes.includes(path)) await this.loadRoot(path);
      return;
    }
    // A node deleted and re-created may be ephemeral now, or no longer.
    const skipped = this.opts.skipEphemeral && node.ephemeral;
    if (node.mzxid !== entry.mzxid || skipped !== entry.skipped) {
      const wasSkipped = entry.skipped;
      entry.mzxid = node.mzxid;
      entry.skipped = skipped;
      if (!skipped) this.opts.onChange(path, node.data, node.mzxid);
      else if (!wasSkipped) this.opts.onChange(path, null);
    }
  }

  private async refreshChildren(path: string): Promise<void> {
    const entry = this.nodes.get(path);
    if (!entry) {
      if (this.opts.prefixes.includes(path)) await this.loadRoot(path); // a root (re)appeared
      return;
    }
    const names = await this.limit(() => this.zk.childrenW(path, this.onEvent('child', path)));
    if (this.nodes.get(path) !== entry) return;
    if (names === null) {
      this.gone(path);
      if (this.opts.prefixes.includes(path)) await this.loadRoot(path);
      return;
    }
    const now = this.synced(path, names);
    const before = new Set(entry.children);
    const after = new Set(now);
    entry.children = now;
    for (const name of before) if (!after.has(name)) this.remove(childPath(path, name));
    await Promise.all(now.filter((n) => !before.has(n)).map((n) => this.load(childPath(path, n))));
  }

  /** A watch callback made here, so it holds only `this` and the path, not the caller's locals (child lists). */
  private onEvent(kind: Kind, path: string): () => void {
    return () => this.event(kind, path);
  }

  /**
   * The node itself read as deleted: drop it and forget its name in the parent's child list, so a
   * re-creation that the parent's next child read sees is loaded and watched as new. (ZooKeeper answers
   * a session's requests in order, so this "no node" is handled before the parent's later child read.)
   */
  private gone(path: string): void {
    this.remove(path);
    this.forgetName(path);
  }

  private forgetName(path: string): void {
    const { parent, name } = splitPath(path);
    const up = this.nodes.get(parent);
    if (up) up.children = up.children.filter((n) => n !== name);
  }

  /** Drops a subtree from the mirror and reports each of its nodes gone (children first). */
  private remove(path: string): void {
    const entry = this.nodes.get(path);
    if (!entry) return;
    for (const name of entry.children) this.remove(childPath(path, name));
    this.nodes.delete(path);
    if (!entry.skipped) this.opts.onChange(path, null);
  }
}
