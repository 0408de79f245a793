import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcd3Store } from '../../common/etcd/etcd3-store.js';
import { EtcdError } from '../../common/errors.js';
import { etcdRangesFor } from '../../common/paths.js';
import { privateEtcd } from '../helpers/private-servers.js';
import type { PrivateServer } from '../helpers/private-servers.js';

const KEYS = 3000; // the first page holds 1,000: the rest come from later pages, at the pinned revision

/**
 * A compaction past the revision a snapshot pinned (etcd's auto-compaction, or an operator's `compact`
 * before a defrag) fails its next page. The snapshot is read again, whole, at the current revision.
 * On a private etcd: compaction removes history for every client of the server.
 */
describe('etcd snapshot across compactions and outages', () => {
  let server: PrivateServer;
  let etcd: Etcd3;
  const root = '/compaction';

  /** Blocks the event loop while etcdctl writes a key and compacts to its revision: the next page must fail. */
  const compactNow = (): void => {
    const put = JSON.parse(execFileSync('etcdctl', ['--endpoints', server.address, 'put', `${root}-tick`, 'x', '-w', 'json'], { encoding: 'utf8' })) as { header: { revision: number } };
    execFileSync('etcdctl', ['--endpoints', server.address, 'compact', String(put.header.revision)], { stdio: 'ignore' });
  };

  before(async () => {
    server = await privateEtcd();
    await server.start();
    etcd = new Etcd3({ hosts: server.address });
    for (let i = 0; i < KEYS; i += 100) {
      const ops = Array.from({ length: Math.min(100, KEYS - i) }, (_, j) => ({ request_put: { key: Buffer.from(`${root}/k${String(i + j).padStart(5, '0')}`), value: Buffer.from(`v${i + j}`) } }));
      await etcd.kv.txn({ compare: [], success: ops, failure: [] });
    }
  });

  after(async () => {
    etcd?.close();
    await server?.cleanup();
  });

  test('compacted after its first page: read again at the current revision, every key there', async () => {
    let pages = 0;
    const snap = await etcd3Store(etcd).snapshot([etcdRangesFor('', root)], () => {
      if (pages++ === 0) compactNow();
    });
    assert.ok(pages > 2, `the first read failed and the snapshot was read again (${pages} pages)`);
    assert.equal(snap.entries.size, KEYS);
    assert.equal(snap.entries.get(`${root}/k02999`)?.value.toString(), 'v2999');
    const current = (await etcd.get(`${root}-tick`).exec()).header.revision;
    assert.equal(snap.revision, current, 'pinned at the revision after the compaction');
  });

  test('etcd down: each retry of the read is reported (the CLI and the watcher log it), then the error', async () => {
    const retries: string[] = [];
    await server.kill();
    try {
      await assert.rejects(etcd3Store(etcd, { onReadRetry: (_err, op) => retries.push(op) }).snapshot([etcdRangesFor('', root)]), /UNAVAILABLE/);
    } finally {
      await server.start();
    }
    assert.deepEqual(retries, ['range', 'range', 'range'], 'four attempts: three retries');
  });

  test('compacted on every read: a retryable error that names the compaction and what to do', async () => {
    let pages = 0;
    await assert.rejects(
      etcd3Store(etcd).snapshot([etcdRangesFor('', root)], () => {
        pages++;
        compactNow();
      }),
      (err: unknown) => {
        assert.ok(err instanceof EtcdError, String(err));
        assert.equal(err.retryable, true);
        assert.match(err.message, /etcd compacted the revision of this read 3 times while it was paging; rerun, or compact less often/);
        return true;
      },
    );
    assert.equal(pages, 3, 'three whole reads, each failing after its first page');
  });
});
