/** What the reconcile needs from ZooKeeper; implemented over the native addon in `addon-client.ts`. */
export interface ZkNode {
  readonly data: Buffer;
  readonly ephemeral: boolean;
  readonly numChildren: number;
  readonly version: number;
  /** Zxid of the last create or set: changes on every data change and on delete-and-recreate. */
  readonly mzxid: number;
}

export interface ZkReader {
  /** The node's data and stat, or null when the node does not exist. Any other failure throws ZkError. */
  get(path: string): Promise<ZkNode | null>;
  /** The node's child names, or null when the node does not exist. */
  children(path: string): Promise<string[] | null>;
}

/** Called once when the watched node changes (data watch) or its child list changes (child watch), or it is deleted. */
export type WatchCallback = () => void;

/** One-shot watches, as the watcher uses them; session events never reach these callbacks. */
export interface ZkWatchReader extends ZkReader {
  /** get with a data watch (fires on change or delete); null when absent (no watch is left). */
  getW(path: string, onEvent: WatchCallback): Promise<ZkNode | null>;
  /** children with a child watch (fires on a child added/removed, or delete); null when absent. */
  childrenW(path: string, onEvent: WatchCallback): Promise<string[] | null>;
  /** exists with a watch that fires when the node is created, changed or deleted. */
  existsW(path: string, onEvent: WatchCallback): Promise<boolean>;
}
