import { EtcdInvalidAuthTokenError } from 'etcd3';
import type { Etcd3 } from 'etcd3';
import { decodeRangeResponse, encodeRangeRequest } from './range-codec.js';
import type { RangePage, RangeRequest } from './range-codec.js';

/** The part of a grpc-js client the raw call uses (etcd3's KV service client is one). */
interface UnaryClient {
  makeUnaryRequest(
    method: string,
    serialize: (req: Buffer) => Buffer,
    deserialize: (reply: Buffer) => RangePage,
    argument: Buffer,
    metadata: unknown,
    options: { deadline: Date },
    callback: (err: Error | null, reply?: RangePage) => void,
  ): unknown;
}

/** The part of etcd3's connection pool the raw call uses: a KV client with its host, auth token and channel. */
interface KvPool {
  withConnection<T>(service: 'KV', fn: (conn: { client: UnaryClient; metadata: unknown }) => Promise<T>): Promise<T>;
}

export type RangeCall = (req: RangeRequest) => Promise<RangePage>;

const RANGE_METHOD = '/etcdserverpb.KV/Range';

function poolOf(client: Etcd3): KvPool | null {
  const pool: unknown = Reflect.get(client, 'pool');
  return typeof pool === 'object' && pool !== null && typeof Reflect.get(pool, 'withConnection') === 'function' ? (pool as KvPool) : null;
}

/**
 * Range over etcd3's own connection (its hosts, TLS, auth token and failover) with our codec instead of
 * its protobuf objects. `fallback` (the library's range) serves a page whose auth token expired, since
 * etcd3 renews the token only on its own calls; it also serves every page if this etcd3 version no
 * longer has the pool this relies on (pinned, and checked by the integration tests).
 */
export function rawRange(client: Etcd3, deadlineMs: number, fallback: RangeCall): { call: RangeCall; raw: boolean } {
  const pool = poolOf(client);
  if (!pool) return { call: fallback, raw: false };
  const call: RangeCall = async (req) => {
    try {
      return await pool.withConnection('KV', ({ client: kv, metadata }) =>
        new Promise<RangePage>((resolve, reject) => {
          kv.makeUnaryRequest(RANGE_METHOD, (b) => b, decodeRangeResponse, encodeRangeRequest(req), metadata, { deadline: new Date(Date.now() + deadlineMs) }, (err, reply) =>
            err || !reply ? reject(err ?? new Error('etcd range returned no reply')) : resolve(reply),
          );
        }),
      );
    } catch (err) {
      if (err instanceof EtcdInvalidAuthTokenError) return fallback(req);
      throw err;
    }
  };
  return { call, raw: true };
}
