import { FLAG_BY_NAME } from './flags.js';
import type { Raw } from './sources.js';
import type { Command } from './types.js';

/**
 * Flags on the command line of a command that does not use them (README: the watcher's are marked
 * "sync:"): refused, since whoever typed them expects an effect. From the environment or a config file
 * they are ignored: the watcher and the reconcile CronJob share one ConfigMap. `--dry-run` is refused for
 * `sync` from anywhere: the watcher always writes, and must not run while someone believes it does not.
 */
export function commandFlagProblems(command: Command, cliFlags: Iterable<string>, dryRun: { value: boolean | undefined; from: Raw | undefined }): string[] {
  const problems: string[] = [];
  const scope = command === 'sync' ? 'sync' : 'one-shot';
  if (command === 'sync' && dryRun.value === true) {
    problems.push(`--dry-run: sync always writes (from ${dryRun.from?.label ?? '--dry-run'}); preview with zk2etcd diff or zk2etcd fix --dry-run`);
  }
  for (const name of cliFlags) {
    const only = FLAG_BY_NAME.get(name)?.only;
    if (only === undefined || only === scope || name === 'dry-run') continue;
    problems.push(only === 'sync' ? `--${name}: only zk2etcd sync uses it, not ${command}` : `--${name}: zk2etcd sync does not use it (diff, fix and reconcile do)`);
  }
  return problems;
}
