import cron from 'node-cron';
import type { FullSync } from '../common/config/types.js';
import type { Logger } from '../common/logger.js';

export interface ReconcileSchedule {
  start(): void;
  stop(): void;
}

/** In-process scheduled full reconcile (interval or cron); a run never overlaps the previous one. */
export function scheduleReconcile(spec: FullSync, run: () => Promise<void>, logger: Logger): ReconcileSchedule {
  let busy = false;
  const tick = () => {
    if (busy) {
      logger.info('scheduled reconcile skipped: the previous one is still running');
      return;
    }
    busy = true;
    run()
      .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'scheduled reconcile failed'))
      .finally(() => {
        busy = false;
      });
  };
  let timer: NodeJS.Timeout | null = null;
  let task: ReturnType<typeof cron.schedule> | null = null;
  return {
    start() {
      if (spec.kind === 'interval' && !timer) timer = setInterval(tick, spec.ms);
      if (spec.kind === 'cron' && !task) task = cron.schedule(spec.expression, tick, { noOverlap: true, name: 'zk2etcd-reconcile' });
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      void task?.destroy();
      task = null;
    },
  };
}
