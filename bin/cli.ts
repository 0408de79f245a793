/**
 * The command line: `runCli` runs the command in process.argv. The shipped CLI (`dist/cli/zk2etcd.js`, see
 * `launch.ts`) passes the state of V8's code cache it ran from, shown by `zk2etcd version`.
 */
import { readFileSync } from 'node:fs';
import { ExitCode } from '../common/errors.js';
import type { OneShotCommand } from '../functions/run.js';
import { COMMANDS, flagHelp, usage } from './help.js';

function version(codeCache: string | undefined): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  let build = { commit: 'unknown', date: 'unknown' };
  try {
    build = JSON.parse(readFileSync(new URL('../build-info.json', import.meta.url), 'utf8')) as typeof build;
  } catch {
    // running from an unbuilt tree
  }
  const cache = codeCache === undefined ? '' : `, code cache ${codeCache}`;
  return `zk2etcd ${pkg.version} (commit ${build.commit}, built ${build.date}, node ${process.version}${cache})`;
}

async function main(codeCache: string | undefined, args = process.argv.slice(2)): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined) {
    process.stderr.write(`${usage()}\n`);
    return ExitCode.usage;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    const [topic] = rest;
    // `help fix` is `fix --help`.
    if (topic !== undefined && COMMANDS.some(([name]) => name === topic)) return main(codeCache, [topic, '--help']);
    process.stdout.write(`${usage()}\n`);
    return ExitCode.ok;
  }
  if (command === 'version' || command === '--version') {
    if (rest.length === 1 && (rest[0] === '--help' || rest[0] === '-h')) {
      process.stdout.write('Usage: zk2etcd version\n\nPrints the version, commit, build date, Node version and the state of the code cache.\n');
      return ExitCode.ok;
    }
    if (rest.length > 0) {
      process.stderr.write(`zk2etcd version: takes no arguments (got "${rest[0]}")\n`);
      return ExitCode.usage;
    }
    process.stdout.write(`${version(codeCache)}\n`);
    return ExitCode.ok;
  }
  if (command === 'diff' || command === 'fix' || command === 'reconcile') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${flagHelp(command)}\n`);
      return ExitCode.ok;
    }
    // Each command loads only its own modules: a CronJob's diff pays start-up on every run.
    const { runOneShot } = await import('../functions/run.js');
    return runOneShot(command as OneShotCommand, rest, process.env);
  }
  if (command === 'sync') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${flagHelp(command)}\n`);
      return ExitCode.ok;
    }
    const { runSyncCommand } = await import('../watcher/main.js');
    return runSyncCommand(rest, process.env);
  }
  if (command === 'log') {
    const { runLogCommand, LOG_HELP } = await import('./log-command.js');
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${LOG_HELP}\n`);
      return ExitCode.ok;
    }
    return runLogCommand(rest, process.env);
  }
  process.stderr.write(`zk2etcd: unknown command "${command}"\n${usage()}\n`);
  return ExitCode.usage;
}

// A reader that closed the pipe early (`zk2etcd diff --output json | head -c 100`) wants no more output:
// not a crash. The run's own exit code stands.
// Any other write error (a full disk: `> /dev/full`) loses the report: the run fails, whatever it found.
export function runCli(codeCache?: string): void {
  let stdoutFailed = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return;
    if (!stdoutFailed) process.stderr.write(`zk2etcd: cannot write to stdout: ${err.message}\n`);
    stdoutFailed = true;
    process.exitCode = ExitCode.failure;
  });

  main(codeCache).then(
    (result) => {
      // Read at exit: a stdout error may be reported after the run returned.
      const code = (): number => (stdoutFailed ? ExitCode.failure : result);
      process.exitCode = code();
      // Clients are closed by now; a lingering socket (grpc-js, TLS) must not keep the process alive.
      setTimeout(() => process.exit(code()), 2000).unref();
      // The work is done: a signal now ends the process with the run's own code, not as killed.
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(code()));
    },
    (err: unknown) => {
      process.stderr.write(`zk2etcd: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = ExitCode.failure;
    },
  );
}

/** Loads the one-shot commands' modules without running anything: the build's code cache records them. */
export async function preloadOneShot(): Promise<void> {
  await import('../functions/run.js');
}
