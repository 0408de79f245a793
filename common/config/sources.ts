import { envName } from './flags.js';

/**
 * Where a setting came from. SPEC §7: flag > environment > config file > default. Kept apart from
 * load.ts (and zod) so `zk2etcd log` resolves its token the same way without loading the validator.
 */
export type Source = 'flag' | 'env' | 'file';

export interface Raw {
  readonly value: string;
  readonly source: Source;
  /** How a message names where the value came from: `--name`, `ZK2ETCD_NAME` or `config file key name`. */
  readonly label: string;
}

const RANK: Readonly<Record<Source, number>> = { flag: 0, env: 1, file: 2 };

const WHERE: Readonly<Record<Source, (name: string) => string>> = {
  flag: () => 'on the command line',
  env: (name) => `in the environment, ${envName(name)} and ${envName(`${name}-file`)}`,
  file: (name) => `in the config file, keys ${name} and ${name}-file`,
};

export interface Sources {
  readonly flags: ReadonlyMap<string, string>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Values from the config file; none when there is no config file. */
  readonly file?: ReadonlyMap<string, string>;
}

/** The value of `name` from the highest-ranked source that sets it. */
export function pickSource(name: string, from: Sources): Raw | undefined {
  const flag = from.flags.get(name);
  if (flag !== undefined) return { value: flag, source: 'flag', label: `--${name}` };
  const env = from.env[envName(name)];
  if (env !== undefined) return { value: env, source: 'env', label: envName(name) };
  const file = from.file?.get(name);
  if (file !== undefined) return { value: file, source: 'file', label: `config file key ${name}` };
  return undefined;
}

/**
 * A secret given as `name` (the value) or `name-file` (a file holding it), each already picked from
 * its highest-ranked source. When both are set, the form from the higher-ranked source wins and the
 * other is ignored (a losing file is not even opened); both from the same source is a problem.
 * Returns undefined when the secret is unset or a problem was pushed. Messages never show the value.
 */
export function readSecret(
  name: string,
  direct: Raw | undefined,
  file: Raw | undefined,
  readFile: (path: string) => Buffer,
  problems: string[],
): string | undefined {
  if (direct && file && direct.source === file.source) {
    problems.push(`--${name} and --${name}-file: set only one (both given ${WHERE[direct.source](name)})`);
    return undefined;
  }
  // An empty secret is refused rather than read as "none": an empty --admin-token would turn POST /log's
  // check off, and an empty mounted file is a missing Secret key more often than a choice.
  if (direct && (!file || RANK[direct.source] < RANK[file.source])) {
    if (direct.value !== '') return direct.value;
    problems.push(`${direct.label}: is empty (leave it unset for none)`);
    return undefined;
  }
  if (!file) return undefined;
  let value: string;
  try {
    value = readFile(file.value).toString('utf8').replace(/\r?\n$/, '');
  } catch (err) {
    problems.push(`--${name}-file: cannot read ${file.value} (${(err as NodeJS.ErrnoException).code ?? 'error'})${file.source === 'flag' ? '' : ` (from ${file.label})`}`);
    return undefined;
  }
  if (value.trim() !== '') return value;
  problems.push(`--${name}-file: ${file.value} is empty or only whitespace${file.source === 'flag' ? '' : ` (from ${file.label})`}`);
  return undefined;
}

/** Where the secret readSecret used came from, for a message that must not show it: a label, or a file's label and path. */
export function secretOrigin(direct: Raw | undefined, file: Raw | undefined): string {
  if (direct && (!file || RANK[direct.source] < RANK[file.source])) return direct.label;
  return file ? `${file.label} ${file.value}` : 'nowhere';
}

/** One secret by precedence, for callers outside the loader (`zk2etcd log`). */
export function resolveSecret(name: string, from: Sources, readFile: (path: string) => Buffer, problems: string[]): string | undefined {
  return readSecret(name, pickSource(name, from), pickSource(`${name}-file`, from), readFile, problems);
}
