import type { Logger } from '../logger.js';
import type { PlanWriter } from './writer.js';
import { NOTHING_APPLIED } from './writer.js';

/**
 * --dry-run: reports what the inner writer would do and never calls it. A reconcile writes once per
 * chunk, so each call logs at debug; the report states the dry run once.
 */
export function dryRunWriter(_inner: PlanWriter, logger: Logger): PlanWriter {
  return {
    async write(plan) {
      logger.debug(
        { dryRun: true, wouldPut: plan.missing.length + plan.changed.length, wouldDelete: plan.extra.length },
        'dry run: nothing written',
      );
      return NOTHING_APPLIED;
    },
  };
}
