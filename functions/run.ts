import { loadConfig } from '../common/config/load.js';
import type { Config } from '../common/config/types.js';
import { ConfigError, DeletionGuardError, errorLogFields, ExitCode } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { createMetrics } from '../common/metrics.js';
import { createProgress } from '../common/progress.js';
import type { ReconcileClients } from '../common/reconcile.js';
import { shutdownSignal } from '../common/signals.js';
import { openClients } from './clients.js';
import type { HandlerContext } from './handlers.js';
import { diff, fix, reconcile } from './handlers.js';
import { pushMetrics } from './push.js';
import type { Report } from './report.js';
import { errorReport, exitCodeFor, formatText } from './report.js';

export type OneShotCommand = 'diff' | 'fix' | 'reconcile';
type Handler = (config: Config, clients: ReconcileClients, ctx: HandlerContext) => Promise<Report>;
const HANDLERS: Record<OneShotCommand, Handler> = { diff, fix, reconcile };

/** Entry point of the one-shot commands: config, clients, handler, report, metrics push; returns the exit code. */
export async function runOneShot(command: OneShotCommand, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: Config;
  try {
    config = loadConfig({ command, argv, env });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`zk2etcd ${command}: ${p}\n`);
      // A script reading --output json gets a document on every exit, a usage error included.
      if (err.output === 'json') process.stdout.write(`${JSON.stringify(errorReport(err))}\n`);
      return ExitCode.usage;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, 'stderr');
  const metrics = createMetrics();
  const shutdown = shutdownSignal((sig) => logger.warn({ signal: sig }, 'stopping: in-flight batches finish, nothing new starts; send again to exit at once'));
  let code: number = ExitCode.failure;
  let clients;
  try {
    clients = await openClients(config, metrics, logger);
    const progress = createProgress(logger, process.stderr.isTTY === true);
    // Crash tests only: SIGKILL at a named point of the ownership order.
    const failAt = env.ZK2ETCD_TEST_FAILPOINT;
    const failpoint = failAt ? (point: string) => point === failAt && process.kill(process.pid, 'SIGKILL') : undefined;
    const report = await HANDLERS[command](config, clients, { metrics, logger, progress, signal: shutdown.signal, failpoint });
    process.stdout.write(config.output === 'json' ? `${JSON.stringify(report)}\n` : `${formatText(command, report)}\n`);
    code = exitCodeFor(report);
  } catch (err) {
    code = err instanceof DeletionGuardError ? ExitCode.guard : ExitCode.failure;
    logger.error(errorLogFields(err), `${command} failed`);
    process.stderr.write(`zk2etcd ${command}: ${(err as Error).message}\n`);
    // A script reading --output json gets a document on every exit, not an empty stdout.
    if (config.output === 'json') process.stdout.write(`${JSON.stringify(errorReport(err))}\n`);
  } finally {
    await clients?.close().catch(() => {});
    shutdown.dispose();
  }
  if (config.pushgatewayUrl) {
    try {
      await pushMetrics(config.pushgatewayUrl, metrics.registry, { instance: config.instance, command }, { success: code === ExitCode.ok, completed: code !== ExitCode.failure });
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'pushing metrics to the Pushgateway failed');
      if (code === ExitCode.ok) code = ExitCode.failure;
    }
  } else if (command === 'reconcile') {
    logger.warn('no --pushgateway-url: reconcile metrics are not pushed');
  }
  return code;
}
