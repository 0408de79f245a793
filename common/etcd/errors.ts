import { isRecoverableError } from 'etcd3';
import { EtcdError } from '../errors.js';

const RETRYABLE_NAMES = /Unavailable|DeadlineExceeded|ResourceExhausted|Internal|Cancelled|ConnectFailed|BrokenCircuit|Unknown/;

/** gRPC status 8 raised by the client itself for a reply larger than `grpc.max_receive_message_length`. */
function isReplyOverLimit(className: string, message: string): boolean {
  return /ResourceExhausted/.test(className) && /Received message larger than max/.test(message);
}

/**
 * etcd refused a request as too large: over its --max-request-bytes (1.5 MiB by default: INVALID_ARGUMENT
 * "etcdserver: request is too large") or over its gRPC receive limit (RESOURCE_EXHAUSTED "grpc: received
 * message larger than max", from the server; our own client's limit on replies reads "Received").
 */
function isRequestOverLimit(message: string): boolean {
  return /etcdserver: request is too large|grpc: received message larger than max/.test(message);
}

/** True for an EtcdError of a request etcd refused as too large: it fails the same way every time, and nothing was applied. */
export function requestTooLarge(err: unknown): boolean {
  return err instanceof EtcdError && err.errorClass === 'etcd_request_too_large';
}

// Refused before anything was applied: the request's own fault, the database full (NOSPACE), too many
// requests, credentials, or a circuit breaker that sent nothing.
const NOT_APPLIED_CLASSES = new Set([
  'etcd_request_too_large',
  'etcd_invalidargument',
  'etcd_failedprecondition',
  'etcd_permissiondenied',
  'etcd_unauthenticated',
  'etcd_authenticationfailed',
  'etcd_invalidauthtoken',
  'etcd_brokencircuit',
]);

/**
 * True for an error of a transaction that surely applied nothing, so that its `pending` marks can be
 * taken back. A timeout, a dropped connection or a leader change may have committed it (unknown), and
 * so may anything not listed; a transaction whose conditions failed is read back (`get`), applied nothing.
 */
export function surelyNotApplied(err: unknown): boolean {
  if (!(err instanceof EtcdError)) return false;
  if (err.op === 'get') return true;
  if (NOT_APPLIED_CLASSES.has(err.errorClass)) return true;
  // The server's NOSPACE or "too many requests"; not our own client's limit on a reply, which came after.
  if (err.errorClass === 'etcd_resourceexhausted') return !replyOverLimit(err);
  return err.errorClass === 'etcd_unavailable' && /No connection established/.test(err.message);
}

/** True for an EtcdError from a reply over gRPC's receive limit: read less per request. */
export function replyOverLimit(err: unknown): boolean {
  return err instanceof EtcdError && err.errorClass === 'etcd_resourceexhausted' && !err.retryable;
}

/** Wraps any etcd3 error as an EtcdError with a bounded class name; never read as "absent". */
export function toEtcdError(err: unknown, op: string): EtcdError {
  if (err instanceof EtcdError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  // etcd3 1.1.2 spells gRPC status 8's class `GRPCResourceExhastedError`: read it as `...Exhausted...`.
  const name = (e.constructor?.name ?? 'Error').replace(/ResourceExhasted/, 'ResourceExhausted');
  const short = name.replace(/^(GRPC|Etcd)/, '').replace(/Error$/, '') || 'unknown';
  // A reply over gRPC's receive limit fails the same way every time: its caller reads smaller pieces.
  const overLimit = isReplyOverLimit(name, e.message);
  const tooLarge = isRequestOverLimit(e.message);
  const retryable = (() => {
    try {
      return !overLimit && !tooLarge && (isRecoverableError(e) || RETRYABLE_NAMES.test(name));
    } catch {
      return false;
    }
  })();
  const hint = /PermissionDenied|AuthenticationFailed|AuthFailed|InvalidAuth|Unauthenticated/.test(name)
    ? ' (check --etcd-username/--etcd-password-file and the user role)'
    : /Unavailable|ConnectFailed/.test(name)
      ? ' (check --etcd-servers and TLS flags)'
      : '';
  // grpc-js ends some messages with an empty "Resolution note:"; it says nothing.
  const message = e.message.replace(/\.?\s*Resolution note:\s*$/, '');
  const errorClass = tooLarge ? 'request_too_large' : short.replace(/[^A-Za-z0-9]/g, '').toLowerCase() || 'unknown';
  return new EtcdError(op, `etcd ${op} failed: ${message}${hint}`, retryable, errorClass, {
    cause: err,
  });
}

/** etcd refused a read at a revision compaction has removed (gRPC OUT_OF_RANGE, "required revision has been compacted"). */
export function revisionCompacted(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (/required revision has been compacted/.test(e.message)) return true;
  }
  return false;
}
