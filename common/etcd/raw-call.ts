import { EtcdInvalidAuthTokenError } from 'etcd3';
import type { Etcd3 } from 'etcd3';

/** The part of a grpc-js client the raw call uses (etcd3's KV service client is one). */
interface UnaryClient {
  makeUnaryRequest<Res>(
    method: string,
    serialize: (req: Buffer) => Buffer,
    deserialize: (reply: Buffer) => Res,
    argument: Buffer,
    metadata: unknown,
    options: { deadline: Date },
    callback: (err: Error | null, reply?: Res) => void,
  ): unknown;
}

/** The part of etcd3's connection pool the raw call uses: a KV client with its host, auth token and channel. */
interface KvPool {
  withConnection<T>(service: 'KV', fn: (conn: { client: UnaryClient; metadata: unknown }) => Promise<T>): Promise<T>;
}

export type UnaryCall<Req, Res> = (req: Req) => Promise<Res>;

export interface RawMethod<Req, Res> {
  /** The gRPC path, e.g. `/etcdserverpb.KV/Range`. */
  readonly path: string;
  readonly encode: (req: Req) => Buffer;
  readonly decode: (reply: Buffer) => Res;
}

function poolOf(client: Etcd3): KvPool | null {
  const pool: unknown = Reflect.get(client, 'pool');
  return typeof pool === 'object' && pool !== null && typeof Reflect.get(pool, 'withConnection') === 'function' ? (pool as KvPool) : null;
}

/**
 * A KV call over etcd3's own connection (its hosts, TLS, auth token and failover) with our codec instead
 * of its protobuf objects (why: `range-codec.ts`). `fallback` (the library's call) serves a request whose auth token expired, since
 * etcd3 renews the token only on its own calls; the server refused that request, so sending it again is
 * safe for writes too. It also serves every request if this etcd3 version no longer has the pool this
 * relies on (pinned, and checked by the integration tests).
 */
export function rawUnary<Req, Res>(client: Etcd3, method: RawMethod<Req, Res>, deadlineMs: number, fallback: UnaryCall<Req, Res>): { call: UnaryCall<Req, Res>; raw: boolean } {
  const pool = poolOf(client);
  if (!pool) return { call: fallback, raw: false };
  const call: UnaryCall<Req, Res> = async (req) => {
    try {
      return await pool.withConnection('KV', ({ client: kv, metadata }) =>
        new Promise<Res>((resolve, reject) => {
          const options = { deadline: new Date(Date.now() + deadlineMs) };
          kv.makeUnaryRequest(method.path, (b) => b, method.decode, method.encode(req), metadata, options, (err, reply) =>
            err || reply === undefined ? reject(err ?? new Error(`etcd ${method.path} returned no reply`)) : resolve(reply),
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
