import { readFileSync } from 'node:fs';
import { parseArgv } from '../common/config/argv.js';
import { readConfigFile } from '../common/config/config-file.js';
import { envName } from '../common/config/flags.js';
import { maskServer } from '../common/config/mask.js';
import { LOG_LEVELS_HELP, parseLogLevel } from '../common/config/log-level.js';
import { pickSource, resolveSecret } from '../common/config/sources.js';
import { ExitCode } from '../common/errors.js';

const FLAGS = new Map<string, 'string' | 'boolean'>([
  ['level', 'string'],
  ['addr', 'string'],
  ['zk2etcd-addr', 'string'], // zk2etcd 1.x's name for --addr
]);

export const LOG_HELP = [
  'Usage: zk2etcd log --level L [--addr URL] [--admin-token-file path] [--config file]',
  '',
  "Changes a running watcher's log level (POST /log).",
  '',
  'Flags:',
  '  --level value',
  `        ${LOG_LEVELS_HELP} (required)`,
  '  --addr value',
  '        the watcher\'s HTTP address (default: from the watcher\'s --http-addr setting, in the environment or the config file, else "http://127.0.0.1:8080"; 1.x: --zk2etcd-addr)  [ZK2ETCD_LOG_ADDR]',
  '  --admin-token value',
  "        the watcher's --admin-token  [ZK2ETCD_ADMIN_TOKEN]",
  '  --admin-token-file path',
  '        file holding admin-token (keeps it out of the process list)  [ZK2ETCD_ADMIN_TOKEN_FILE]',
  '  --config path',
  "        the watcher's config file, for its admin-token(-file) and http-addr  [ZK2ETCD_CONFIG]",
].join('\n');

/** A URL for the watcher's `--http-addr` ([host]:port) from this machine: a wildcard host is loopback. */
function urlOfHttpAddr(addr: string | undefined): string | undefined {
  const m = addr === undefined ? null : /^(.*):(\d{1,5})$/.exec(addr.trim());
  if (!m) return undefined;
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  const local = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${local.includes(':') ? `[${local}]` : local}:${m[2] as string}`;
}

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
  const readFile = (p: string): Buffer => readFileSync(p);
  // The watcher's own settings (its token, its address) as the loader reads them: flag > env > config file.
  const file = readConfigFile(args.values.get('config') ?? env[envName('config')], readFile, problems);
  const watcher = { flags: new Map<string, string>(), env, file };
  const addr =
    args.values.get('addr') ?? args.values.get('zk2etcd-addr') ?? env.ZK2ETCD_LOG_ADDR ?? urlOfHttpAddr(pickSource('http-addr', watcher)?.value) ?? 'http://127.0.0.1:8080';
  const shown = maskServer(addr);
  let url: URL | null = null;
  try {
    url = new URL('/log', addr);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    if (url.username || url.password || addr.includes('@')) {
      problems.push(`--addr: must not carry credentials: use --admin-token-file (got "${shown}")`);
      url = null;
    }
  } catch {
    problems.push(`--addr: must be the watcher's http(s) URL such as http://127.0.0.1:8080 (got "${shown}")`);
    url = null;
  }
  // --admin-token, --admin-token-file or their ZK2ETCD_ variables or config file keys, by the loader's precedence.
  const token = resolveSecret('admin-token', { flags: args.values, env, file }, readFile, problems) ?? null;
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
