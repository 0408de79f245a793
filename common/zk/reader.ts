/** What the reconcile needs from ZooKeeper; implemented over the native addon in `addon-client.ts`. */
export interface ZkNode {
  readonly data: Buffer;
  readonly ephemeral: boolean;
  readonly numChildren: number;
  readonly version: number;
}

export interface ZkReader {
  /** The node's data and stat, or null when the node does not exist. Any other failure throws ZkError. */
  get(path: string): Promise<ZkNode | null>;
  /** The node's child names, or null when the node does not exist. */
  children(path: string): Promise<string[] | null>;
}
