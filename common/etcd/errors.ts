import { isRecoverableError } from 'etcd3';
import { EtcdError } from '../errors.js';

const RETRYABLE_NAMES = /Unavailable|DeadlineExceeded|ResourceExhausted|Internal|Cancelled|ConnectFailed|BrokenCircuit|Unknown/;

/** Wraps any etcd3 error as an EtcdError with a bounded class name; never read as "absent". */
export function toEtcdError(err: unknown, op: string): EtcdError {
  if (err instanceof EtcdError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const name = e.constructor?.name ?? 'Error';
  const short = name.replace(/^(GRPC|Etcd)/, '').replace(/Error$/, '') || 'unknown';
  const retryable = (() => {
    try {
      return isRecoverableError(e) || RETRYABLE_NAMES.test(name);
    } catch {
      return false;
    }
  })();
  const hint = /PermissionDenied|AuthenticationFailed|AuthFailed|InvalidAuth|Unauthenticated/.test(name)
    ? ' (check --etcd-username/--etcd-password-file and the user role)'
    : /Unavailable|ConnectFailed/.test(name)
      ? ' (check --etcd-servers and TLS flags)'
      : '';
  return new EtcdError(op, `etcd ${op} failed: ${e.message}${hint}`, retryable, short.replace(/[^A-Za-z0-9]/g, '').toLowerCase() || 'unknown', {
    cause: err,
  });
}
