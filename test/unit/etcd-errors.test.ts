import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  castGrpcError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  isRecoverableError,
} from 'etcd3';
import { EtcdError } from '../../common/errors.js';
import { replyOverLimit, requestTooLarge, surelyNotApplied, toEtcdError } from '../../common/etcd/errors.js';

/** toEtcdError over the classes etcd3 (1.1.2) throws: a bounded errorClass and whether to try again. */
describe('toEtcdError', () => {
  // What grpc-js rejects with when a reply is over the receive limit; etcd3's pool casts it by its code.
  const overLimit = Object.assign(new Error('8 RESOURCE_EXHAUSTED: Received message larger than max (6000123 vs. 524288)'), { code: 8 });
  const cases: { name: string; err: Error; errorClass: string; retryable: boolean }[] = [
    // etcd3 spells the class "Exhasted" and marks it recoverable; ours is spelt right. The server's
    // (too many requests, space quota) is retried with backoff; the client's receive limit is not.
    { name: 'GRPCResourceExhastedError from the server', err: new GRPCResourceExhastedError('etcdserver: too many requests'), errorClass: 'etcd_resourceexhausted', retryable: true },
    { name: 'gRPC status 8 for a reply over the receive limit, as etcd3\'s pool casts it', err: castGrpcError(overLimit), errorClass: 'etcd_resourceexhausted', retryable: false },
    // A request over etcd's --max-request-bytes, or over the server's gRPC receive limit (its message
    // says "received"; our client's limit on replies says "Received"): refused the same way every time.
    { name: 'a request over --max-request-bytes (too large)', err: new GRPCInvalidArgumentError('etcdserver: request is too large'), errorClass: 'etcd_request_too_large', retryable: false },
    {
      name: "a request over the server's gRPC receive limit (too large)",
      err: castGrpcError(Object.assign(new Error('8 RESOURCE_EXHAUSTED: grpc: received message larger than max (2097221 vs. 2097152)'), { code: 8 })),
      errorClass: 'etcd_request_too_large',
      retryable: false,
    },
    { name: 'GRPCUnavailableError', err: new GRPCUnavailableError('14 UNAVAILABLE: No connection established'), errorClass: 'etcd_unavailable', retryable: true },
    { name: 'GRPCDeadlineExceededError', err: new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'), errorClass: 'etcd_deadlineexceeded', retryable: true },
    { name: 'EtcdPermissionDeniedError', err: new EtcdPermissionDeniedError('etcdserver: permission denied'), errorClass: 'etcd_permissiondenied', retryable: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const e = toEtcdError(c.err, 'range');
      assert.ok(e instanceof EtcdError);
      assert.equal(e.errorClass, c.errorClass);
      assert.equal(e.retryable, c.retryable);
      assert.equal(e.cause, c.err);
      assert.equal(replyOverLimit(e), c.name.includes('receive limit') && !c.name.includes('too large'));
      assert.equal(requestTooLarge(e), c.name.includes('too large'));
    });
  }

  test('the message names the call and what to check, without grpc-js\'s empty "Resolution note:"', () => {
    const e = toEtcdError(new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: '), 'range');
    assert.equal(e.message, 'etcd range failed: 14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1 (check --etcd-servers and TLS flags)');
  });

  test('etcd3 marks resource exhausted recoverable and casts status 8 to its class', () => {
    assert.equal(isRecoverableError(new GRPCResourceExhastedError('x')), true);
    assert.ok(castGrpcError(overLimit) instanceof GRPCResourceExhastedError);
  });
});

/** Which failed transactions surely applied nothing, so that their `pending` marks can be taken back. */
describe('surelyNotApplied', () => {
  const overLimit = Object.assign(new Error('8 RESOURCE_EXHAUSTED: Received message larger than max (6000123 vs. 524288)'), { code: 8 });
  const cases: { name: string; err: unknown; notApplied: boolean }[] = [
    { name: 'the database full (NOSPACE)', err: toEtcdError(new GRPCResourceExhastedError('etcdserver: mvcc: database space exceeded'), 'txn'), notApplied: true },
    { name: 'too many requests', err: toEtcdError(new GRPCResourceExhastedError('etcdserver: too many requests'), 'txn'), notApplied: true },
    { name: 'a request too large', err: toEtcdError(new GRPCInvalidArgumentError('etcdserver: request is too large'), 'txn'), notApplied: true },
    { name: 'permission denied', err: toEtcdError(new EtcdPermissionDeniedError('etcdserver: permission denied'), 'txn'), notApplied: true },
    { name: 'no connection established (never sent)', err: toEtcdError(new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED'), 'txn'), notApplied: true },
    { name: "the read-back of a transaction whose conditions failed (op 'get')", err: toEtcdError(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'), 'get'), notApplied: true },
    // May have committed: the reply was lost, the leader changed, or the reply came back too large.
    { name: 'a deadline exceeded', err: toEtcdError(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'), 'txn'), notApplied: false },
    { name: 'unavailable after sending (leader changed)', err: toEtcdError(new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: leader changed'), 'txn'), notApplied: false },
    { name: "a reply over our client's receive limit", err: toEtcdError(castGrpcError(overLimit), 'txn'), notApplied: false },
    { name: 'anything that is not an EtcdError', err: new Error('socket hang up'), notApplied: false },
  ];
  for (const c of cases) test(c.name, () => assert.equal(surelyNotApplied(c.err), c.notApplied));
});
