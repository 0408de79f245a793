import { Pushgateway } from 'prom-client';
import type { Registry } from 'prom-client';
import { lastSuccessGauge } from '../common/metrics.js';

/**
 * Pushes a one-shot run's registry (POST: replaces same-named metrics in the group, so a failed run,
 * which carries no last-success gauge, leaves the previous success timestamp in place).
 */
export async function pushMetrics(url: string, registry: Registry, grouping: { instance: string; command: string }, success: boolean): Promise<void> {
  if (success) lastSuccessGauge(registry).setToCurrentTime();
  const gateway = new Pushgateway(url, { timeout: 5000 }, registry);
  await gateway.pushAdd({ jobName: 'zk2etcd', groupings: grouping });
}
