import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';
import type { Config } from '../config/types.js';

/** Deadline of every unary etcd call: without one a call to a server that never answers hangs. */
export const CALL_DEADLINE_MS = 10_000;

/**
 * Creates the etcd3 client. Its built-in retry and circuit breaker are off: a retried conditional
 * transaction whose first attempt committed would report a failed compare, so retries are ours.
 */
export function createEtcdClient(cfg: Config['etcd']): Etcd3 {
  return new Etcd3({
    hosts: [...cfg.endpoints],
    credentials: cfg.tls
      ? {
          rootCertificate: cfg.tls.ca ?? undefined,
          privateKey: cfg.tls.key ?? undefined,
          certChain: cfg.tls.cert ?? undefined,
        } as never
      : undefined,
    auth: cfg.username && cfg.password ? { username: cfg.username, password: cfg.password } : undefined,
    grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 8 * 1024 * 1024 },
    dialTimeout: 10_000,
    // etcd3 does not apply dialTimeout to calls.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: new Date(Date.now() + CALL_DEADLINE_MS) }),
    faultHandling: { host: () => noop, global: noop },
  });
}
