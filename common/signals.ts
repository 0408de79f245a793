/**
 * First SIGTERM/SIGINT aborts the returned signal (graceful: finish or abandon in-flight work cleanly);
 * a second exits at once.
 */
export function shutdownSignal(onFirst?: (signal: string) => void): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    onFirst?.(sig);
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}
