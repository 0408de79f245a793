import { ZkError, zkCodeName } from '../errors.js';
import type { RetryOptions } from '../retry.js';

export const ZNONODE = -101;
const RETRYABLE = new Set([-4, -7]); // connection loss, operation timeout: the session survives

/** A request failed with a ZooKeeper error code, on the protocol client (reply header, or local: connection loss, expiry). */
export class ZkProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** A request that waited a whole session timeout for a connection: ZooKeeper is down or unreachable. */
    readonly outage = false,
  ) {
    super(message);
  }
}

/** The addon's errors are plain Errors whose message starts with the numeric code; parse it here only. */
export function zkCodeOf(err: unknown): number | null {
  if (err instanceof ZkProtocolError) return err.code;
  const message = err instanceof Error ? err.message : String(err);
  // Either "<code> ..." or, from the promise wrapper, `... result: "ZINVALIDSTATE -9"`.
  const m = /^(-?\d+)\b/.exec(message) ?? /result: "Z[A-Z_]+ (-?\d+)"/.exec(message);
  return m ? Number(m[1]) : null;
}

export function toZkError(err: unknown, op: string, path: string): ZkError {
  if (err instanceof ZkError) return err;
  const code = zkCodeOf(err) ?? -1;
  const hint =
    code === -102
      ? ' (not readable with our credentials: set --zookeeper-auth to a user the node ACL allows)'
      : code === -112 || code === -116 || code === -9
        ? ' (the session expired; the run must reconnect)'
        : err instanceof ZkProtocolError && err.outage
          ? ` (${err.message})`
          : code === -4 && !(err instanceof ZkProtocolError)
            ? ' (connection lost; if this repeats on one node, its children list may exceed jute.maxbuffer: raise -Djute.maxbuffer on the servers and in ZOOKEEPER_CLIENT_JVMFLAGS)'
            : '';
  return new ZkError(code, path, op, `ZooKeeper ${op} ${path} failed: ${zkCodeName(code)} (${code})${hint}`, RETRYABLE.has(code), {
    cause: err,
  });
}

/** Session timeouts, as granted by the server and as requested by --zookeeper-session-timeout. */
export interface SessionTimeouts {
  readonly grantedMs: number;
  readonly requestedMs: number;
}

/** The message of a read that failed after a granted session timeout without a connection (both clients say it the same way). */
export function outageMessage(t: SessionTimeouts): string {
  const which = t.grantedMs === t.requestedMs ? '--zookeeper-session-timeout' : `the session timeout ZooKeeper granted for --zookeeper-session-timeout=${t.requestedMs / 1000}s`;
  return `no connection to ZooKeeper for ${t.grantedMs / 1000}s (${which}): check that the servers are up and reachable`;
}

/**
 * The addon client's failure of a read after a whole session timeout in which reads only failed (its C
 * client answers operation_timeout again and again): an outage, as the protocol client reports it.
 */
export function asOutage(err: ZkError, timeouts: SessionTimeouts): ZkError {
  // Said as the protocol client says it: the addon's own hint for a lost connection (jute.maxbuffer) would mislead here.
  return toZkError(new ZkProtocolError(err.code, outageMessage(timeouts), true), err.op, err.path);
}

/**
 * True for a read that waited a whole --zookeeper-session-timeout without a connection: retrying it would
 * wait as long again (a one-shot run stayed silent for four timeouts); the caller's caller decides.
 */
export function isZkOutage(err: unknown): boolean {
  const cause = err instanceof ZkError ? err.cause : err;
  return cause instanceof ZkProtocolError && cause.outage;
}

/** Retries of a ZooKeeper read: a few, not past an outage, and abandoned at once when the run stops. */
export function zkReadRetry(signal: AbortSignal | undefined): RetryOptions {
  return { attempts: 5, baseDelayMs: 200, maxDelayMs: 3000, signal, giveUp: isZkOutage, abandonOnAbort: true };
}

/** Runs a read; "no node" becomes `absent`, any other failure a ZkError (never absence). */
export async function readOrAbsent<T, A>(op: string, path: string, absent: A, fn: () => Promise<T>): Promise<T | A> {
  try {
    return await fn();
  } catch (err) {
    if (zkCodeOf(err) === ZNONODE) return absent;
    throw toZkError(err, op, path);
  }
}
