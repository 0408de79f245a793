import { readFileSync } from 'node:fs';
import { parseArgv } from '../common/config/argv.js';
import { resolveSecret } from '../common/config/sources.js';
import { ExitCode } from '../common/errors.js';

const FLAGS = new Map<string, 'string' | 'boolean'>([
  ['level', 'string'],
  ['addr', 'string'],
]);

/** `zk2etcd log --level L --addr URL [--admin-token(-file) ...]`: changes a running watcher's log level through POST /log. */
export async function runLogCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseArgv(argv, FLAGS);
  const problems = [...args.problems];
  const level = args.values.get('level');
  const addr = args.values.get('addr') ?? env.ZK2ETCD_LOG_ADDR ?? 'http://127.0.0.1:8080';
  if (!level || !['debug', 'info', 'warn', 'error'].includes(level)) problems.push('--level: must be one of debug, info, warn, error');
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
    const text = await res.text();
    (res.ok ? process.stdout : process.stderr).write(text);
    return res.ok ? ExitCode.ok : ExitCode.failure;
  } catch (err) {
    process.stderr.write(`zk2etcd log: cannot reach ${url.origin}: ${(err as Error).message}\n`);
    return ExitCode.failure;
  }
}
