import type { V1Lease, V1LeaseSpec, V1MicroTime } from '@kubernetes/client-node';

/**
 * The leader-election record a Lease's spec carries (client-go's LeaderElectionRecord), with the
 * times as the API server's RFC 3339 strings so records compare exactly as read.
 */
export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string | undefined;
  readonly renewTime: string | undefined;
  readonly leaseTransitions: number;
}

/** What the API server accepts for a MicroTime: exactly six fractional digits, UTC. */
export const MICRO_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * client-node's V1MicroTime, redone so this module loads without the client-node runtime: its
 * serializer passes MicroTime fields through to JSON.stringify, whose Date.toJSON calls this
 * toISOString. A plain Date would give `.123Z`, which the API server rejects.
 */
class MicroTime extends Date implements V1MicroTime {
  override toISOString(): string {
    return `${super.toISOString().slice(0, -1)}000Z`;
  }
}

export function formatMicroTime(ms: number): string {
  return new MicroTime(ms).toISOString();
}

function timeString(value: unknown): string | undefined {
  // client-node 2.0.1 types MicroTime fields as V1MicroTime but deserializes them as raw strings.
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  return undefined;
}

export function recordFromLease(lease: V1Lease): LeaseRecord {
  const spec: V1LeaseSpec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: timeString(spec.acquireTime),
    renewTime: timeString(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

export function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}

function microTime(value: string | undefined): V1MicroTime | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new MicroTime(ms);
}

/** The spec to send: times must be V1MicroTime instances so they serialize with six digits. */
export function leaseSpec(record: LeaseRecord): V1LeaseSpec {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: microTime(record.acquireTime),
    renewTime: microTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
  };
}

export type Decision =
  | { readonly kind: 'write'; readonly record: LeaseRecord }
  | { readonly kind: 'held'; readonly holder: string; readonly expiresInMs: number };

export interface DecideInput {
  /** The record just read; null when the Lease does not exist. */
  readonly observed: LeaseRecord | null;
  /** Local time at which `observed` was first seen unchanged (not its renewTime: clocks differ). */
  readonly observedAtMs: number;
  readonly nowMs: number;
  readonly identity: string;
  readonly leaseDurationMs: number;
}

/** client-go's tryAcquireOrRenew decision: the record to write, or who holds the lease. */
export function decide(input: DecideInput): Decision {
  const { observed, identity, nowMs } = input;
  // Round up so other replicas never wait less than our own renew deadline assumes.
  const durationSeconds = Math.max(1, Math.ceil(input.leaseDurationMs / 1000));
  const now = formatMicroTime(nowMs);
  if (observed === null) {
    return {
      kind: 'write',
      record: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    };
  }
  const ours = observed.holderIdentity === identity;
  if (!ours && observed.holderIdentity !== '') {
    // The holder's own duration governs (as in current client-go), so mixed configurations stay safe.
    const validMs = observed.leaseDurationSeconds > 0 ? observed.leaseDurationSeconds * 1000 : input.leaseDurationMs;
    const expiresInMs = input.observedAtMs + validMs - nowMs;
    if (expiresInMs > 0) return { kind: 'held', holder: observed.holderIdentity, expiresInMs };
  }
  return {
    kind: 'write',
    record: {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: ours ? (observed.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions: ours ? observed.leaseTransitions : observed.leaseTransitions + 1,
    },
  };
}

/** client-go ReleaseOnCancel: no holder and a 1s duration, so the others take over at once. */
export function releaseRecord(observed: LeaseRecord, nowMs: number): LeaseRecord {
  const now = formatMicroTime(nowMs);
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: observed.leaseTransitions };
}
