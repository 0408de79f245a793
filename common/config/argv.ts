import { FLAG_BY_NAME } from './flags.js';

export interface ParsedArgv {
  values: Map<string, string>;
  positionals: string[];
  help: boolean;
  problems: string[];
}

// Go's strconv.ParseBool spellings (zk2etcd 1.x's flags: t, T, TRUE, ...) and the usual yes/on, any case.
const TRUE = new Set(['true', '1', 't', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'f', 'no', 'off']);

export function normalizeBoolean(raw: string): string | null {
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return 'true';
  if (FALSE.has(v)) return 'false';
  return null;
}

/** Go-style flags: `--name=value`, `--name value`, bare `--bool` or `--bool=false`. */
export function parseArgv(argv: readonly string[], extra: ReadonlyMap<string, 'string' | 'boolean'> = new Map()): ParsedArgv {
  const out: ParsedArgv = { values: new Map(), positionals: [], help: false, problems: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') {
      out.help = true;
      continue;
    }
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      out.positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const kind = FLAG_BY_NAME.get(name)?.kind ?? extra.get(name);
    if (!kind) {
      out.problems.push(`--${name}: unknown flag (see --help)`);
      continue;
    }
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (kind === 'boolean') {
      value = value === undefined ? 'true' : (normalizeBoolean(value) ?? value);
    } else if (value === undefined) {
      const next = argv[i + 1];
      const bare = FLAG_BY_NAME.get(name)?.bare;
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        if (bare === undefined) {
          out.problems.push(`--${name}: needs a value`);
          continue;
        }
        value = bare;
      } else {
        value = next;
        i++;
      }
    }
    if (out.values.has(name)) out.problems.push(`--${name}: given more than once`);
    out.values.set(name, value);
  }
  return out;
}
