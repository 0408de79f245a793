import { isUtf8 } from 'node:buffer';
import type { Etcd3, IKeyValue, IRequestOp, ICompare } from 'etcd3';
import { withRetry } from '../retry.js';
import { forEachPool } from '../pool.js';
import { CALL_DEADLINE_MS } from './connect.js';
import { EtcdError } from '../errors.js';
import { replyOverLimit, revisionCompacted, toEtcdError } from './errors.js';
import { RANGE, type RangePage, type RangeRequest } from './range-codec.js';
import { READ_TXN } from './read-txn-codec.js';
import { rawUnary, type UnaryCall } from './raw-call.js';
import { TXN, type TxnCompare, type TxnReply, type TxnRequest, type TxnRequestOp } from './txn-codec.js';
import type { EtcdEntry, EtcdStore, Fence, KeyRange, Snapshot, SnapshotEntry, TxnOp, TxnOutcome } from './store.js';
import { MAX_TXN_OPS, snapshotOf } from './store.js';

const READ_RETRY = { attempts: 4, baseDelayMs: 200, maxDelayMs: 2000 };
const GET_MANY_IN_FLIGHT = 8;
/** Whole re-reads of a snapshot whose pinned revision was compacted before it failed. */
const COMPACTED_ATTEMPTS = 3;
const MAX_PAGE_KEYS = 10_000;
const PAGE_BYTES_TARGET = 16 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Values arrive as slices of the whole gRPC reply: copy them so the reply can be collected. A page's
 * values are copied into one buffer of their own (not Buffer.from's shared 8 KiB pool: a 12-byte value
 * there keeps a whole pool slab alive, along with whatever else was allocated from it).
 */
function ownValues(kvs: readonly IKeyValue[]): Buffer[] {
  let total = 0;
  for (const item of kvs) total += item.value.length;
  const arena = total === 0 ? EMPTY : Buffer.allocUnsafeSlow(total);
  let offset = 0;
  return kvs.map((item) => {
    const v = item.value;
    if (v.length === 0) return EMPTY;
    v.copy(arena, offset);
    offset += v.length;
    return arena.subarray(offset - v.length, offset);
  });
}

/** The key as a string, or null when its bytes are not valid UTF-8 (the string would not map back to them). */
function decodeKey(raw: Buffer): string | null {
  return isUtf8(raw) ? raw.toString('utf8') : null;
}


/** A Range reply as etcd3's library decodes it, as the page our own codec gives. */
function pageOf(res: { readonly header: { readonly revision: string }; readonly more: boolean; readonly kvs: readonly IKeyValue[] }): RangePage {
  const kvs = res.kvs;
  const last = kvs[kvs.length - 1];
  return {
    revision: res.header.revision,
    more: res.more,
    keys: kvs.map((item) => decodeKey(item.key)),
    values: ownValues(kvs),
    modRevisions: kvs.map((item) => item.mod_revision),
    lastKey: last ? last.key : null,
    bytes: kvs.reduce((n, item) => n + item.key.length + item.value.length, 0),
  };
}

/** EtcdStore over an etcd3 client whose own retries are off: reads retry here, writes never blindly. */
export function etcd3Store(client: Etcd3, opts: { readonly onReadRetry?: (err: unknown, op: 'range' | 'get') => void } = {}): EtcdStore {
  // Retries are logged as they happen: a stalled etcd is otherwise silent until the run fails.
  const retrying = (op: 'range' | 'get') => ({ ...READ_RETRY, onRetry: (err: unknown) => opts.onReadRetry?.(err, op) });
  const kv = client.kv;

  // An empty range_end is left out here too: sent, even empty, etcd reads it as "from key to the end".
  const libraryRange: UnaryCall<RangeRequest, RangePage> = async (req) =>
    pageOf(await kv.range({ key: req.key, ...(req.rangeEnd.length > 0 ? { range_end: req.rangeEnd } : {}), limit: req.limit, revision: req.revision }));
  const libraryReadTxn: UnaryCall<readonly Buffer[], RangePage[]> = async (keys) => {
    const res = await kv.txn({ compare: [], success: keys.map((key) => ({ request_range: { key } })), failure: [] });
    return res.responses.map((r) => pageOf(r.response_range ?? { header: res.header, more: false, kvs: [] }));
  };
  const readTxn = rawUnary(client, READ_TXN, CALL_DEADLINE_MS, libraryReadTxn).call;
  const range = rawUnary(client, RANGE, CALL_DEADLINE_MS, libraryRange).call;
  const libraryTxn: UnaryCall<TxnRequest, TxnReply> = async (req) => {
    const compare: ICompare[] = req.compare.map((c) =>
      c.target === 'create'
        ? { key: c.key, target: 'Create', result: 'Equal', create_revision: c.revision }
        : { key: c.key, target: 'Mod', result: 'Equal', mod_revision: c.revision },
    );
    const success: IRequestOp[] = req.success.map((op) => (op.type === 'put' ? { request_put: { key: op.key, value: op.value } } : { request_delete_range: { key: op.key } }));
    const res = await kv.txn({ compare, success, failure: [] });
    return { succeeded: res.succeeded, revision: res.header.revision };
  };
  const txn = rawUnary(client, TXN, CALL_DEADLINE_MS, libraryTxn).call;
  const readPage = (key: Buffer, rangeEnd: Buffer, limit: number, revision: string | undefined) =>
    withRetry(async () => {
      try {
        return await range({ key, rangeEnd, limit, revision: revision ?? '0' });
      } catch (err) {
        throw toEtcdError(err, 'range');
      }
    }, retrying('range'));

  /** Every key in the ranges, paged, at the revision of the first page. */
  async function snapshotOnce(ranges: readonly KeyRange[], onPage?: (keys: number) => void): Promise<Snapshot> {
    const entries: SnapshotEntry[] = [];
    let undecodable = 0;
    let revision: string | undefined;
    const add = (page: RangePage) => {
      page.keys.forEach((key, i) => {
        if (key === null) undecodable++;
        else entries.push({ key, value: page.values[i] as Buffer, modRevision: page.modRevisions[i] as string });
      });
    };
    for (const range of ranges) {
      if (range.exact) {
        const page = await readPage(range.exact, EMPTY, 1, revision);
        revision ??= page.revision;
        add(page);
      }
      let start = range.start;
      let limit = 1000;
      for (;;) {
        let page;
        try {
          page = await readPage(start, range.end, limit, revision);
        } catch (err) {
          // A page over gRPC's receive limit: halve and retry rather than fail.
          if (replyOverLimit(err) && limit > 1) {
            limit = Math.max(1, Math.floor(limit / 2));
            continue;
          }
          throw err;
        }
        revision ??= page.revision;
        add(page);
        onPage?.(entries.length + undecodable);
        if (!page.more || !page.lastKey) break;
        start = Buffer.concat([page.lastKey, Buffer.from([0])]);
        const bytesPerKey = (page.bytes + 32 * page.keys.length) / page.keys.length;
        limit = Math.max(1, Math.min(MAX_PAGE_KEYS, Math.floor(PAGE_BYTES_TARGET / Math.max(1, bytesPerKey))));
      }
    }
    return snapshotOf(revision ?? '0', entries, undecodable);
  }

  return {
    async snapshot(ranges: readonly KeyRange[], onPage?: (keys: number) => void): Promise<Snapshot> {
      // Pages are read at the first page's revision; a compaction past it (etcd's own, or an operator's
      // `compact` before a defrag) fails the next page. Nothing has been planned from a partial snapshot:
      // read it again, whole, at the current revision.
      for (let attempt = 1; ; attempt++) {
        try {
          return await snapshotOnce(ranges, onPage);
        } catch (err) {
          if (!revisionCompacted(err)) throw err;
          if (attempt >= COMPACTED_ATTEMPTS) {
            throw new EtcdError('range', `etcd compacted the revision of this read ${attempt} times while it was paging; rerun, or compact less often (etcd --auto-compaction-retention)`, true, 'compacted', { cause: err });
          }
        }
      }
    },

    async getMany(keys: readonly string[]): Promise<Map<string, EtcdEntry>> {
      const out = new Map<string, EtcdEntry>();
      const starts: number[] = [];
      for (let i = 0; i < keys.length; i += MAX_TXN_OPS) starts.push(i);
      // Several read transactions in flight: a confirmation round of a 70k-node copy reads 70k keys.
      const read = async (chunk: readonly string[]): Promise<void> => {
        let pages;
        try {
          pages = await withRetry(async () => {
            try {
              return await readTxn(chunk.map((k) => Buffer.from(k)));
            } catch (err) {
              throw toEtcdError(err, 'get');
            }
          }, retrying('get'));
        } catch (err) {
          // A reply over gRPC's receive limit (large values): read each half on its own, down to one key.
          if (!replyOverLimit(err) || chunk.length <= 1) throw err;
          const half = Math.ceil(chunk.length / 2);
          await read(chunk.slice(0, half));
          await read(chunk.slice(half));
          return;
        }
        for (const page of pages) {
          page.keys.forEach((key, i) => {
            if (key !== null) out.set(key, { value: page.values[i] as Buffer, modRevision: page.modRevisions[i] as string });
          });
        }
      };
      await forEachPool(starts, GET_MANY_IN_FLIGHT, (start) => read(keys.slice(start, start + MAX_TXN_OPS)));
      return out;
    },

    async commit(ops: readonly TxnOp[], fence?: Fence): Promise<TxnOutcome> {
      // Each key is encoded once: the same bytes go into its compare, its op and any read-back.
      const keys = ops.map((op) => Buffer.from(op.key));
      const fenceKey = fence ? Buffer.from(fence.key) : undefined;
      const compare: TxnCompare[] = ops.map((op, i) =>
        'absent' in op.expect
          ? { key: keys[i] as Buffer, target: 'create', revision: '0' }
          : { key: keys[i] as Buffer, target: 'mod', revision: op.expect.modRevision },
      );
      if (fence && fenceKey) compare.push({ key: fenceKey, target: 'create', revision: fence.createRevision });
      const success: TxnRequestOp[] = ops.map((op, i) => (op.type === 'put' ? { type: 'put', key: keys[i] as Buffer, value: op.value } : { type: 'delete', key: keys[i] as Buffer }));
      let res;
      try {
        // No failure branch: it would carry every key a third time in every (normally successful) request.
        res = await txn({ compare, success });
      } catch (err) {
        throw toEtcdError(err, 'txn');
      }
      if (res.succeeded) return { succeeded: true, revision: res.revision };
      // Read back every key (and the fence) so the caller can tell which condition failed.
      const ranges: IRequestOp[] = keys.map((key) => ({ request_range: { key } }));
      if (fenceKey) ranges.push({ request_range: { key: fenceKey, keys_only: true } });
      let back;
      try {
        back = await kv.txn({ compare: [], success: ranges, failure: [] });
      } catch (err) {
        throw toEtcdError(err, 'get'); // a commit failing as `get` applied nothing (surelyNotApplied)
      }
      const current = new Map<string, EtcdEntry | null>();
      ops.forEach((op, i) => {
        const item = back.responses[i]?.response_range?.kvs[0];
        current.set(op.key, item ? { value: item.value, modRevision: item.mod_revision } : null);
      });
      const fenceKv = fence ? back.responses[ops.length]?.response_range?.kvs[0] : undefined;
      const fenceHeld = !fence || (fenceKv !== undefined && fenceKv.create_revision === fence.createRevision);
      return { succeeded: false, current, fenceHeld };
    },
  };
}

