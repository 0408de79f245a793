import { readFileSync } from 'node:fs';
import { parseArgv } from '../common/config/argv.js';
import { LOG_LEVELS_HELP, parseLogLevel } from '../common/config/log-level.js';
import { resolveSecret } from '../common/config/sources.js';
import { ExitCode } from '../common/errors.js';

const FLAGS = new Map<string, 'string' | 'boolean'>([
  ['level', 'string'],
  ['addr', 'string'],
  ['zk2etcd-addr', 'string'], // zk2etcd 1.x's name for --addr
]);

export const LOG_HELP = [
  'Usage: zk2etcd log --level L [--addr URL] [--admin-token-file path]',
  '',
  "Changes a running watcher's log level (POST /log).",
  '',
  'Flags:',
  '  --level value',
  `        ${LOG_LEVELS_HELP} (required)`,
  '  --addr value',
  '        the watcher\'s HTTP address (default "http://127.0.0.1:8080"; 1.x: --zk2etcd-addr)  [ZK2ETCD_LOG_ADDR]',
  '  --admin-token value',
  "        the watcher's --admin-token  [ZK2ETCD_ADMIN_TOKEN]",
  '  --admin-token-file path',
  '        file holding admin-token (keeps it out of the process list)  [ZK2ETCD_ADMIN_TOKEN_FILE]',
].join('\n');

/** Why a request did not reach the server: fetch says only "fetch failed", its cause says what (ECONNREFUSED). */
function reason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

/** `zk2etcd log --level L --addr URL [--admin-token(-file) ...]`: changes a running watcher's log level through POST /log. */
export async function runLogCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseArgv(argv, FLAGS);
  const problems = [...args.problems];
  if (args.positionals.length > 0) problems.push(`unexpected argument at position ${argv.indexOf(args.positionals[0] as string) + 1} (flags start with --)`);
  const given = args.values.get('level');
  const level = given === undefined ? null : parseLogLevel(given);
  if (!level) problems.push(`--level: must be one of ${LOG_LEVELS_HELP}${given === undefined ? '' : ` (got "${given}")`}`);
  if (args.values.has('addr') && args.values.has('zk2etcd-addr')) problems.push('--addr and --zk2etcd-addr (its 1.x name): give one');
  const addr = args.values.get('addr') ?? args.values.get('zk2etcd-addr') ?? env.ZK2ETCD_LOG_ADDR ?? 'http://127.0.0.1:8080';
  let url: URL | null = null;
  try {
    url = new URL('/log', addr);
  } catch {
    problems.push(`--addr: must be the watcher's http URL such as http://127.0.0.1:8080 (got "${addr}")`);
  }
  // --admin-token, --admin-token-file or their ZK2ETCD_ variables, by the loader's precedence (flag > env).
  const token = resolveSecret('admin-token', { flags: args.values, env }, (p) => readFileSync(p), problems) ?? null;
  if (problems.length > 0 || !url) {
    for (const p of problems) process.stderr.write(`zk2etcd log: ${p}\n`);
    return ExitCode.usage;
  }
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ level }),
    });
    const text = (await res.text()).trim();
    if (res.ok) {
      process.stdout.write(`${text}\n`);
      return ExitCode.ok;
    }
    process.stderr.write(`zk2etcd log: ${url.origin} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${text ? `: ${text}` : ''}\n`);
    return ExitCode.failure;
  } catch (err) {
    process.stderr.write(`zk2etcd log: cannot reach ${url.origin}: ${reason(err)}\n`);
    return ExitCode.failure;
  }
}
