import { dryRunWriter } from '../common/apply/dry-run.js';
import { etcdWriter } from '../common/apply/etcd-writer.js';
import type { Failpoint } from '../common/apply/etcd-writer.js';
import type { Config } from '../common/config/types.js';
import type { Logger } from '../common/logger.js';
import type { Metrics } from '../common/metrics.js';
import type { Progress } from '../common/progress.js';
import type { ReconcileClients } from '../common/reconcile.js';
import { reconcile as runReconcile } from '../common/reconcile.js';
import type { Report } from './report.js';
import { buildReport } from './report.js';

export interface HandlerContext {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly progress?: Progress;
  readonly signal?: AbortSignal;
  readonly failpoint?: (point: Failpoint) => void;
  /** Bytes of creates and updates held back until the deletion guard passes (tests set it low). */
  readonly holdBytes?: number;
}

/** `diff` (and `diff --fix`): compare ZooKeeper and etcd; apply only when config.fix. */
export async function diff(config: Config, clients: ReconcileClients, ctx: HandlerContext): Promise<Report> {
  let writer;
  if (config.fix) {
    const real = etcdWriter({
      etcd: clients.etcd,
      ownership: clients.ownership,
      metrics: ctx.metrics,
      logger: ctx.logger,
      eventLog: config.enableEventLog,
      failpoint: ctx.failpoint,
    });
    writer = config.dryRun ? dryRunWriter(real, ctx.logger) : real;
  }
  const result = await runReconcile(config, clients, { ...ctx, writer });
  return buildReport(result, config.dryRun);
}

/** `fix`: diff, confirm, then make etcd match ZooKeeper. */
export function fix(config: Config, clients: ReconcileClients, ctx: HandlerContext): Promise<Report> {
  return diff({ ...config, fix: true }, clients, ctx);
}

/** `reconcile`: the CronJob entry; a fix whose metrics the entry point pushes to the Pushgateway. */
export function reconcile(config: Config, clients: ReconcileClients, ctx: HandlerContext): Promise<Report> {
  return fix(config, clients, ctx);
}
