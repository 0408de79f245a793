import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MaxDelete } from '../../common/config/types.js';
import { DeletionGuardError } from '../../common/errors.js';
import { checkDeletionGuard, deletionLimit } from '../../common/plan/guard.js';

/** The deletion guard (SPEC §4.6): refuse a fix deleting more than --max-delete unless --force. */

const pct = (value: number): MaxDelete => ({ kind: 'percent', value });
const count = (value: number): MaxDelete => ({ kind: 'count', value });

describe('deletionLimit', () => {
  const cases: { name: string; maxDelete: MaxDelete; owned: number; expected: number }[] = [
    { name: '50% of 10 owned keys', maxDelete: pct(50), owned: 10, expected: 5 },
    { name: '50% of 11 rounds down', maxDelete: pct(50), owned: 11, expected: 5 },
    { name: '50% of 1 is 0', maxDelete: pct(50), owned: 1, expected: 0 },
    { name: '100% allows every owned key', maxDelete: pct(100), owned: 7, expected: 7 },
    { name: '0% allows none', maxDelete: pct(0), owned: 1000, expected: 0 },
    { name: 'a fractional percentage (12.5% of 8)', maxDelete: pct(12.5), owned: 8, expected: 1 },
    { name: 'an absolute count ignores the owned total', maxDelete: count(3), owned: 1_000_000, expected: 3 },
    { name: 'an absolute count may exceed the owned total', maxDelete: count(500), owned: 2, expected: 500 },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(deletionLimit(c.maxDelete, c.owned), c.expected));
  }
});

describe('checkDeletionGuard', () => {
  const cases: { name: string; deletes: number; owned: number; maxDelete: MaxDelete; force: boolean; refused: boolean }[] = [
    { name: 'zero deletes always pass, even with a 0 limit', deletes: 0, owned: 0, maxDelete: count(0), force: false, refused: false },
    { name: 'zero deletes of zero owned keys pass under a percentage', deletes: 0, owned: 0, maxDelete: pct(50), force: false, refused: false },
    { name: 'exactly at the percentage limit passes', deletes: 5, owned: 10, maxDelete: pct(50), force: false, refused: false },
    { name: 'one over the percentage limit is refused', deletes: 6, owned: 10, maxDelete: pct(50), force: false, refused: true },
    { name: 'deleting the only owned key under 50% is refused', deletes: 1, owned: 1, maxDelete: pct(50), force: false, refused: true },
    { name: 'deleting everything under 100% passes', deletes: 10, owned: 10, maxDelete: pct(100), force: false, refused: false },
    { name: 'exactly at the count limit passes', deletes: 3, owned: 100, maxDelete: count(3), force: false, refused: false },
    { name: 'one over the count limit is refused', deletes: 4, owned: 100, maxDelete: count(3), force: false, refused: true },
    { name: 'a count limit of 0 refuses any delete', deletes: 1, owned: 100, maxDelete: count(0), force: false, refused: true },
    { name: '--force overrides a percentage refusal', deletes: 10, owned: 10, maxDelete: pct(50), force: true, refused: false },
    { name: '--force overrides a count refusal', deletes: 1000, owned: 1000, maxDelete: count(0), force: true, refused: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const run = () => checkDeletionGuard(c.deletes, c.owned, c.maxDelete, c.force);
      if (c.refused) assert.throws(run, DeletionGuardError);
      else assert.doesNotThrow(run);
    });
  }

  test('the refusal carries the numbers and tells the operator about --max-delete and --force', () => {
    let caught: unknown;
    try {
      checkDeletionGuard(8, 10, pct(50), false);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof DeletionGuardError, 'expected a DeletionGuardError');
    assert.equal(caught.wouldDelete, 8);
    assert.equal(caught.limit, 5);
    assert.equal(caught.owned, 10);
    assert.equal(caught.retryable, false);
    assert.equal(caught.errorClass, 'deletion_guard');
    assert.match(caught.message, /--max-delete/);
    assert.match(caught.message, /--force/);
    assert.match(caught.message, /\b8\b/);
    assert.match(caught.message, /\b10\b/);
  });
});

/** The watcher's guard counts deletes net of creates: a rollout replaces providers, a wiped source only deletes. */
describe('checkDeletionGuard net of creates (the watcher)', () => {
  const cases: { name: string; deletes: number; creates: number | null; owned: number; maxDelete: MaxDelete; refused: boolean }[] = [
    { name: 'a rollout replacing most keys passes', deletes: 400, creates: 400, owned: 710, maxDelete: pct(50), refused: false },
    { name: 'a rollout that also scales down a little passes', deletes: 400, creates: 100, owned: 710, maxDelete: pct(50), refused: false },
    { name: 'the same deletes counted without creates (a fix) are refused', deletes: 400, creates: null, owned: 710, maxDelete: pct(50), refused: true },
    { name: 'most keys gone with nothing created is refused', deletes: 400, creates: 0, owned: 710, maxDelete: pct(50), refused: true },
    { name: 'exactly at the limit net of creates passes', deletes: 360, creates: 5, owned: 710, maxDelete: pct(50), refused: false },
    { name: 'one over the limit net of creates is refused', deletes: 361, creates: 5, owned: 710, maxDelete: pct(50), refused: true },
    { name: 'more creates than deletes counts as none, even with a 0 limit', deletes: 3, creates: 10, owned: 100, maxDelete: count(0), refused: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const run = () => checkDeletionGuard(c.deletes, c.owned, c.maxDelete, false, c.creates);
      if (c.refused) assert.throws(run, DeletionGuardError);
      else assert.doesNotThrow(run);
    });
  }

  test('the refusal names the deletes, the creates and the difference', () => {
    assert.throws(
      () => checkDeletionGuard(400, 710, pct(50), false, 10),
      (err: unknown) => err instanceof DeletionGuardError && err.creates === 10 && /refusing to delete 400 of our 710 keys while creating 10: 390 fewer \(limit 355, --max-delete\)/.test(err.message),
    );
  });
});
