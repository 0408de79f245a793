import type { Etcd3, IKeyValue, IRequestOp, ICompare } from 'etcd3';
import { EtcdError } from '../errors.js';
import { withRetry } from '../retry.js';
import { toEtcdError } from './errors.js';
import type { EtcdEntry, EtcdStore, Fence, KeyRange, Snapshot, SnapshotEntry, TxnOp, TxnOutcome } from './store.js';
import { MAX_TXN_OPS } from './store.js';

const READ_RETRY = { attempts: 4, baseDelayMs: 200, maxDelayMs: 2000 };
const MAX_PAGE_KEYS = 10_000;
const PAGE_BYTES_TARGET = 16 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/** Values arrive as slices of the whole gRPC reply: copy them so the reply can be collected. */
function ownValue(v: Buffer): Buffer {
  return v.length === 0 ? EMPTY : Buffer.from(v);
}

function decodeKey(raw: Buffer): string | null {
  const s = raw.toString('utf8');
  return Buffer.byteLength(s) === raw.length && Buffer.from(s, 'utf8').equals(raw) ? s : null;
}

/** EtcdStore over an etcd3 client whose own retries are off: reads retry here, writes never blindly. */
export function etcd3Store(client: Etcd3): EtcdStore {
  const kv = client.kv;

  const readPage = (start: Buffer, end: Buffer, limit: number, revision: string | undefined) =>
    withRetry(async () => {
      try {
        return await kv.range({ key: start, range_end: end, limit, revision: revision ?? 0 });
      } catch (err) {
        throw toEtcdError(err, 'range');
      }
    }, READ_RETRY);

  return {
    async snapshot(ranges: readonly KeyRange[], onPage?: (keys: number) => void): Promise<Snapshot> {
      const entries = new Map<string, SnapshotEntry>();
      let undecodable = 0;
      let revision: string | undefined;
      const add = (kvs: IKeyValue[]) => {
        for (const item of kvs) {
          const key = decodeKey(item.key);
          if (key === null) undecodable++;
          else entries.set(key, { key, value: ownValue(item.value), modRevision: item.mod_revision });
        }
      };
      for (const range of ranges) {
        if (range.exact) {
          const res = await readPage(range.exact, Buffer.alloc(0), 1, revision);
          revision ??= res.header.revision;
          add(res.kvs);
        }
        let start = range.start;
        let limit = 1000;
        for (;;) {
          let res;
          try {
            res = await readPage(start, range.end, limit, revision);
          } catch (err) {
            // A page over gRPC's receive limit: halve and retry rather than fail.
            if (err instanceof EtcdError && err.errorClass === 'etcd_resourceexhausted' && limit > 1) {
              limit = Math.max(1, Math.floor(limit / 2));
              continue;
            }
            throw err;
          }
          revision ??= res.header.revision;
          add(res.kvs);
          onPage?.(entries.size + undecodable);
          const last = res.kvs[res.kvs.length - 1];
          if (!res.more || !last) break;
          start = Buffer.concat([last.key, Buffer.from([0])]);
          const bytes = res.kvs.reduce((n, kvp) => n + kvp.key.length + kvp.value.length + 32, 0);
          limit = Math.max(1, Math.min(MAX_PAGE_KEYS, Math.floor(PAGE_BYTES_TARGET / Math.max(1, bytes / res.kvs.length))));
        }
      }
      return { revision: revision ?? '0', entries, undecodable };
    },

    async getMany(keys: readonly string[]): Promise<Map<string, EtcdEntry>> {
      const out = new Map<string, EtcdEntry>();
      for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
        const chunk = keys.slice(i, i + MAX_TXN_OPS);
        const res = await withRetry(async () => {
          try {
            return await kv.txn({ compare: [], success: chunk.map((k) => ({ request_range: { key: Buffer.from(k) } })), failure: [] });
          } catch (err) {
            throw toEtcdError(err, 'get');
          }
        }, READ_RETRY);
        for (const r of res.responses) {
          for (const item of r.response_range?.kvs ?? []) {
            const key = decodeKey(item.key);
            if (key !== null) out.set(key, { value: ownValue(item.value), modRevision: item.mod_revision });
          }
        }
      }
      return out;
    },

    async commit(ops: readonly TxnOp[], fence?: Fence): Promise<TxnOutcome> {
      const compare: ICompare[] = ops.map((op) =>
        'absent' in op.expect
          ? { key: Buffer.from(op.key), target: 'Create', result: 'Equal', create_revision: 0 }
          : { key: Buffer.from(op.key), target: 'Mod', result: 'Equal', mod_revision: op.expect.modRevision },
      );
      if (fence) compare.push({ key: Buffer.from(fence.key), target: 'Create', result: 'Equal', create_revision: fence.createRevision });
      const success: IRequestOp[] = ops.map((op) =>
        op.type === 'put' ? { request_put: { key: Buffer.from(op.key), value: op.value } } : { request_delete_range: { key: Buffer.from(op.key) } },
      );
      // On failure, read back every key so the caller can tell which condition failed.
      const failure: IRequestOp[] = ops.map((op) => ({ request_range: { key: Buffer.from(op.key) } }));
      if (fence) failure.push({ request_range: { key: Buffer.from(fence.key), keys_only: true } });
      let res;
      try {
        res = await kv.txn({ compare, success, failure });
      } catch (err) {
        throw toEtcdError(err, 'txn');
      }
      if (res.succeeded) return { succeeded: true, revision: res.header.revision };
      const current = new Map<string, EtcdEntry | null>();
      ops.forEach((op, i) => {
        const item = res.responses[i]?.response_range?.kvs[0];
        current.set(op.key, item ? { value: item.value, modRevision: item.mod_revision } : null);
      });
      const fenceKv = fence ? res.responses[ops.length]?.response_range?.kvs[0] : undefined;
      const fenceHeld = !fence || (fenceKv !== undefined && fenceKv.create_revision === fence.createRevision);
      return { succeeded: false, current, fenceHeld };
    },
  };
}

