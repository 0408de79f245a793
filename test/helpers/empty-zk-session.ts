import type { ZkSession } from '../../common/zk/reader.js';

/** A protocol-client session over an empty ZooKeeper: every node absent, tree watches armed, close a no-op. */
export function emptyZkSession(grantedTimeoutMs = 30_000): ZkSession {
  return {
    batchReads: true,
    maxBatchReplyBytes: 1 << 20,
    get: async () => null,
    children: async () => null,
    readMany: async (ops) => ops.map(() => null),
    watchTree: async () => undefined,
    close: () => undefined,
    grantedTimeoutMs: () => grantedTimeoutMs,
  };
}
