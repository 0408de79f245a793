import { Pushgateway, Registry } from 'prom-client';
import { COMPLETED_RUN_GAUGES, lastSuccessGauge } from '../common/metrics.js';

const JOB = 'zk2etcd';

/**
 * Pushes a one-shot run's metrics. They replace the group `{instance, command}` whole (PUT), so nothing
 * from an earlier run stays beside them; a failed run leaves out the gauges only a completed run can set
 * (unknown, not 0). The last-success time lives in a group of its own (`result="success"`), pushed only
 * on success, so a later failure keeps it.
 */
export async function pushMetrics(url: string, registry: Registry, grouping: { instance: string; command: string }, outcome: { success: boolean; completed: boolean }): Promise<void> {
  const run = new Registry();
  for (const { name } of registry.getMetricsAsArray()) {
    const metric = registry.getSingleMetric(name);
    if (metric && (outcome.completed || !COMPLETED_RUN_GAUGES.has(name))) run.registerMetric(metric);
  }
  await new Pushgateway(url, { timeout: 5000 }, run).push({ jobName: JOB, groupings: grouping });
  if (outcome.success) {
    const last = new Registry();
    lastSuccessGauge(last).setToCurrentTime();
    await new Pushgateway(url, { timeout: 5000 }, last).pushAdd({ jobName: JOB, groupings: { ...grouping, result: 'success' } });
  }
}
