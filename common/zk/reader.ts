import type { ZkError } from '../errors.js';

/** What the reconcile needs from ZooKeeper; implemented over the native addon in `addon-client.ts`. */
export interface ZkNode {
  readonly data: Buffer;
  readonly ephemeral: boolean;
  readonly numChildren: number;
  readonly version: number;
  /** Zxid of the last create or set: changes on every data change and on delete-and-recreate. */
  readonly mzxid: number;
  /** Where the node's child list stood when this was read. */
  readonly childList: ChildListStamp;
}

/**
 * The zxid of the last create or delete of a child (pzxid) and their count (cversion). Two reads of a
 * node with equal stamps saw the same child list: every change to the list moves pzxid to its own zxid.
 */
export interface ChildListStamp {
  readonly pzxid: number;
  readonly cversion: number;
}

export const sameChildList = (a: ChildListStamp, b: ChildListStamp): boolean => a.pzxid === b.pzxid && a.cversion === b.cversion;

/** Parent path -> its stamp, read before its child list was: that list is current while the stamp is. */
export type ChildListStamps = Map<string, ChildListStamp>;

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
  /** Watches armed by these calls and not yet fired, as the server counts them (one per path and table). */
  readonly armedWatches: number;
}

/**
 * One read inside a batch; a batch may mix both kinds. `asPaths`: the children come back as their full
 * paths instead of their names (what a walk needs, without a string per name).
 */
export type BatchRead = { readonly kind: 'data'; readonly path: string } | { readonly kind: 'children'; readonly path: string; readonly asPaths?: boolean };

/** A batch read's outcome per op: null when the node does not exist; any other failure is a ZkError. */
export type BatchResult = ZkNode | string[] | null | ZkError;

/**
 * A batch's results, one per op, in order. `zxid`: the server's last committed transaction when it read
 * them (from the reply header), so a null there means "absent as of that zxid". `opBytes`: each result's
 * size on the wire, for sizing later batches under the packet limit.
 */
export type BatchResults = BatchResult[] & { readonly zxid?: number; readonly opBytes?: readonly number[] };

/** ZooKeeper 3.6+ over the protocol client: many reads in one request (multiRead). */
export interface ZkBatchReader extends ZkReader {
  readonly batchReads: true;
  /** A multi-op reply larger than this is refused (ZkReplyTooLargeError): size batches below it. */
  readonly maxBatchReplyBytes: number;
  /** One result per op, in order; one op failing does not fail the others. */
  readMany(ops: readonly BatchRead[]): Promise<BatchResults>;
}

export function isBatchReader(reader: ZkReader): reader is ZkBatchReader {
  return (reader as Partial<ZkBatchReader>).batchReads === true;
}

/** What a persistent recursive watch reports: a node at `path` was created, changed or deleted. */
export type TreeEventCallback = (path: string) => void;

/** ZooKeeper 3.6+: one persistent recursive watch per subtree, never re-armed. */
export interface ZkTreeWatchReader extends ZkBatchReader {
  /** Watches `path` and everything below it, whether or not it exists yet. */
  watchTree(path: string): Promise<void>;
}

/** What a session is beyond its reads. */
export interface ZkSessionControl {
  close(): void;
  /** The session timeout the server granted: it clamps the requested one to 2–20 ticks (4–40 s by default). */
  grantedTimeoutMs(): number;
}

/** A session of either client: the protocol client (tree watches) or the addon (one-shot watches). */
export type ZkSession = (ZkTreeWatchReader | ZkWatchReader) & ZkSessionControl;

export function hasTreeWatches(session: ZkSession): session is ZkTreeWatchReader & ZkSessionControl {
  return isBatchReader(session) && typeof (session as Partial<ZkTreeWatchReader>).watchTree === 'function';
}

export interface ZkSessionHooks {
  /** The session expired (or was refused on reconnect): its watches are gone. */
  readonly onLost?: () => void;
  /** Protocol client only: reconnected within the session; tree-watch events in between were lost. */
  readonly onReconnect?: () => void;
  /** Protocol client only: a node under a watched tree was created, changed or deleted. */
  readonly onTreeEvent?: (path: string) => void;
  /** The connection dropped (false) or came back in the same session (true), after the session opened: readiness. */
  readonly onConnection?: (up: boolean) => void;
}
