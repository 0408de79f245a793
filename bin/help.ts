import { FLAGS, envName } from '../common/config/flags.js';

export const COMMANDS: readonly [string, string][] = [
  ['diff', 'compare ZooKeeper and etcd (exit 3 when they differ); --fix also applies'],
  ['fix', 'diff, confirm, then make etcd match ZooKeeper (= diff --fix)'],
  ['reconcile', 'fix and push metrics to the Pushgateway (the CronJob entry)'],
  ['sync', 'the watcher: leader-elected incremental sync (Kubernetes Deployment)'],
  ['log', 'change a running watcher\'s log level: log --level L [--addr http://host:8080] [--admin-token T | --admin-token-file F]'],
  ['version', 'print version, commit, build date and Node version'],
];

export function usage(): string {
  const lines = ['zk2etcd: keeps etcd in sync with ZooKeeper', '', 'Usage: zk2etcd <command> [flags]', '', 'Commands:'];
  for (const [name, help] of COMMANDS) lines.push(`  ${name.padEnd(11)}${help}`);
  lines.push('', 'Run "zk2etcd <command> --help" for flags.', 'Exit codes: 0 in sync/done, 1 failure, 2 bad usage, 3 differences, 4 refused by --max-delete.');
  return lines.join('\n');
}

/** Flag help: the command's flags with their defaults and env variables; secret values are never shown. */
export function flagHelp(command: string): string {
  const lines = [`Usage: zk2etcd ${command} [flags]`, '', 'Flags (each also read from the env variable shown, or from --config):'];
  const scope = command === 'sync' ? 'sync' : 'one-shot';
  for (const f of FLAGS) {
    if (f.only !== undefined && f.only !== scope) continue;
    const def = f.default !== undefined && f.default !== '' ? ` (default ${JSON.stringify(f.default)})` : '';
    const env = `  [${envName(f.name)}]`;
    lines.push(`  --${f.name}${f.kind === 'boolean' ? '' : ' value'}`);
    lines.push(`        ${f.help}${def}${env}`);
    if (f.secret) lines.push(`  --${f.name}-file path`, `        file holding ${f.name} (keeps it out of the process list)  [${envName(`${f.name}-file`)}]`);
  }
  return lines.join('\n');
}
