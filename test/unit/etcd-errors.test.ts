import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  castGrpcError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  isRecoverableError,
} from 'etcd3';
import { EtcdError } from '../../common/errors.js';
import { replyOverLimit, toEtcdError } from '../../common/etcd/errors.js';

/** toEtcdError over the classes etcd3 (1.1.2) throws: a bounded errorClass and whether to try again. */
describe('toEtcdError', () => {
  // What grpc-js rejects with when a reply is over the receive limit; etcd3's pool casts it by its code.
  const overLimit = Object.assign(new Error('8 RESOURCE_EXHAUSTED: Received message larger than max (6000123 vs. 524288)'), { code: 8 });
  const cases: { name: string; err: Error; errorClass: string; retryable: boolean }[] = [
    // etcd3 spells the class "Exhasted" and marks it recoverable; ours is spelt right. The server's
    // (too many requests, space quota) is retried with backoff; the client's receive limit is not.
    { name: 'GRPCResourceExhastedError from the server', err: new GRPCResourceExhastedError('etcdserver: too many requests'), errorClass: 'etcd_resourceexhausted', retryable: true },
    { name: 'gRPC status 8 for a reply over the receive limit, as etcd3\'s pool casts it', err: castGrpcError(overLimit), errorClass: 'etcd_resourceexhausted', retryable: false },
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
      assert.equal(replyOverLimit(e), c.name.includes('receive limit'));
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
