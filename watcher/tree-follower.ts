import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable, ZkError } from '../common/errors.js';
import { isSynced } from '../common/paths.js';
import { ZkReplyTooLargeError } from '../common/zk/connection.js';
import type { BatchResults, ZkBatchReader, ZkNode } from '../common/zk/reader.js';

export interface TreeFollowerOptions {
  readonly prefixes: readonly string[];
  readonly excludes: readonly string[];
  readonly skipEphemeral: boolean;
  /**
   * The latest state of one path (null: gone), with when its first unapplied event arrived, and the zxid of
   * that state: the node's mzxid, or for a deleted node the zxid as of which ZooKeeper answered it was gone.
   */
  readonly onChange: (path: string, data: Buffer | null, since: number, zxid: number | undefined) => void;
  /** A read failed in a way a retry will not fix: the owner rebuilds the session. */
  readonly onError: (err: unknown) => void;
}

const MAX_BATCH = 100;
const MAX_IN_FLIGHT = 4;

/**
 * Follows the events of persistent recursive watches (ZooKeeper 3.6+): no mirror and no re-arming.
 * An event only names a path, so each touched path is re-read (many per multiRead) and its latest
 * state reported. A path is read by one request at a time; an event arriving during that read
 * schedules another, so the last state reported is never older than the last event.
 */
export class TreeFollower {
  /** Paths waiting for a read -> when their first unread event arrived. */
  private readonly dirty = new Map<string, number>();
  private readonly reading = new Set<string>();
  private inFlight = 0;
  private stopped = false;

  constructor(
    private readonly zk: ZkBatchReader,
    private readonly opts: TreeFollowerOptions,
  ) {}

  /** A watch event for `path`. */
  event(path: string, at = performance.now()): void {
    if (this.stopped || !isSynced(path, this.opts.prefixes, this.opts.excludes)) return;
    if (!this.dirty.has(path)) this.dirty.set(path, at);
    this.pump();
  }

  stop(): void {
    this.stopped = true;
  }


  private pump(): void {
    while (!this.stopped && this.inFlight < MAX_IN_FLIGHT) {
      const batch: [string, number][] = [];
      for (const [path, since] of this.dirty) {
        if (this.reading.has(path)) continue;
        batch.push([path, since]);
        if (batch.length >= MAX_BATCH) break;
      }
      if (batch.length === 0) break;
      for (const [path] of batch) {
        this.dirty.delete(path);
        this.reading.add(path);
      }
      this.inFlight++;
      void this.read(batch).finally(() => {
        this.inFlight--;
        for (const [path] of batch) this.reading.delete(path);
        this.pump();
      });
    }
  }

  private async read(batch: readonly [string, number][]): Promise<void> {
    try {
      let results: BatchResults;
      try {
        results = await this.zk.readMany(batch.map(([path]) => ({ kind: 'data', path })));
      } catch (err) {
        // A reply over ZooKeeper's packet limit (large values, e.g. Dubbo metadata): read each half on its own.
        if (!(err instanceof ZkReplyTooLargeError) || batch.length < 2) throw err;
        const mid = Math.ceil(batch.length / 2);
        await Promise.all([this.read(batch.slice(0, mid)), this.read(batch.slice(mid))]);
        return;
      }
      results.forEach((res, i) => {
        const [path, since] = batch[i] as [string, number];
        if (res instanceof ZkError) throw res;
        const node = res as ZkNode | null;
        if (node === null) this.opts.onChange(path, null, since, results.zxid);
        // Left out as if absent: it may have replaced a persistent node whose key must go.
        else if (this.opts.skipEphemeral && node.ephemeral) this.opts.onChange(path, null, since, node.mzxid);
        else this.opts.onChange(path, node.data, since, node.mzxid);
      });
    } catch (err) {
      if (this.stopped) return;
      if (!isRetryable(err)) {
        this.opts.onError(err);
        return;
      }
      // Connection lost: the client reconnects and the owner reconciles; read these again meanwhile.
      await sleep(200);
      for (const [path, since] of batch) if (!this.dirty.has(path)) this.dirty.set(path, since);
    }
  }
}
