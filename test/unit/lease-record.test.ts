import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decide,
  formatMicroTime,
  leaseSpec,
  MICRO_TIME_PATTERN,
  recordFromLease,
  releaseRecord,
  sameRecord,
  type LeaseRecord,
} from '../../common/leader/lease-record.js';

/** The pure part of Kubernetes Lease leader election (SPEC §6): client-go's acquire/renew decision. */

const T0 = Date.parse('2024-05-01T10:00:00.123Z');
const held = (holder: string, extra: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: formatMicroTime(T0 - 60_000),
  renewTime: formatMicroTime(T0),
  leaseTransitions: 3,
  ...extra,
});
const base = { observedAtMs: T0, nowMs: T0, identity: 'me', leaseDurationMs: 15_000 };

describe('MicroTime', () => {
  test('formats with exactly six fractional digits', () => {
    assert.equal(formatMicroTime(T0), '2024-05-01T10:00:00.123000Z');
    assert.match(formatMicroTime(T0), MICRO_TIME_PATTERN);
    assert.doesNotMatch(new Date(T0).toISOString(), MICRO_TIME_PATTERN);
  });

  test('the spec to send serializes its times as MicroTime through JSON', () => {
    const wire = JSON.parse(JSON.stringify(leaseSpec(held('me')))) as Record<string, unknown>;
    assert.equal(wire.renewTime, '2024-05-01T10:00:00.123000Z');
    assert.match(String(wire.acquireTime), MICRO_TIME_PATTERN);
  });

  test('records read back (times as strings, as client-node returns them) compare field by field', () => {
    const read = recordFromLease({ spec: { holderIdentity: 'x', renewTime: '2024-05-01T10:00:00.123456Z' as never } });
    assert.equal(read.renewTime, '2024-05-01T10:00:00.123456Z');
    assert.equal(read.leaseTransitions, 0);
    assert.ok(sameRecord(read, { ...read }));
    assert.ok(!sameRecord(read, { ...read, renewTime: '2024-05-01T10:00:01.123456Z' }));
    assert.deepEqual(recordFromLease({}), {
      holderIdentity: '',
      leaseDurationSeconds: 0,
      acquireTime: undefined,
      renewTime: undefined,
      leaseTransitions: 0,
    });
  });
});

describe('decide', () => {
  test('creates the lease when there is none', () => {
    const d = decide({ ...base, observed: null, leaseDurationMs: 1500 });
    assert.equal(d.kind, 'write');
    assert.deepEqual(d.kind === 'write' && d.record, {
      holderIdentity: 'me',
      leaseDurationSeconds: 2, // rounded up: others never wait less than our renew deadline assumes
      acquireTime: formatMicroTime(T0),
      renewTime: formatMicroTime(T0),
      leaseTransitions: 0,
    });
  });

  test("waits while another holder's record changed less than its lease duration ago (local clock)", () => {
    const d = decide({ ...base, observed: held('other'), observedAtMs: T0, nowMs: T0 + 14_999 });
    assert.deepEqual(d, { kind: 'held', holder: 'other', expiresInMs: 1 });
  });

  test("takes over an expired lease and bumps leaseTransitions, whatever the record's renewTime says", () => {
    const observed = held('other', { renewTime: formatMicroTime(T0 + 3_600_000) }); // skewed clock
    const d = decide({ ...base, observed, observedAtMs: T0, nowMs: T0 + 15_000 });
    assert.equal(d.kind, 'write');
    if (d.kind !== 'write') return;
    assert.equal(d.record.holderIdentity, 'me');
    assert.equal(d.record.leaseTransitions, 4);
    assert.equal(d.record.acquireTime, formatMicroTime(T0 + 15_000));
  });

  test("uses the holder's recorded duration, not ours", () => {
    const observed = held('other', { leaseDurationSeconds: 30 });
    assert.equal(decide({ ...base, observed, nowMs: T0 + 20_000 }).kind, 'held');
    assert.equal(decide({ ...base, observed, nowMs: T0 + 30_000 }).kind, 'write');
  });

  test('renews its own lease at once, keeping acquireTime and leaseTransitions', () => {
    const observed = held('me');
    const d = decide({ ...base, observed, nowMs: T0 + 2_000 });
    assert.equal(d.kind, 'write');
    if (d.kind !== 'write') return;
    assert.equal(d.record.acquireTime, observed.acquireTime);
    assert.equal(d.record.leaseTransitions, 3);
    assert.equal(d.record.renewTime, formatMicroTime(T0 + 2_000));
  });

  test('takes a released lease (empty holder) at once', () => {
    const released = releaseRecord(held('other'), T0);
    assert.equal(released.holderIdentity, '');
    assert.equal(released.leaseDurationSeconds, 1);
    assert.equal(released.leaseTransitions, 3);
    const d = decide({ ...base, observed: released, observedAtMs: T0, nowMs: T0 });
    assert.equal(d.kind === 'write' && d.record.leaseTransitions, 4);
  });
});
