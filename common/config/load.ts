import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { covers } from '../paths.js';
import { normalizeBoolean, parseArgv } from './argv.js';
import { commandFlagProblems } from './command-flags.js';
import { readConfigFile } from './config-file.js';
import { LOG_LEVELS_HELP, parseLogLevel } from './log-level.js';
import { FLAGS, FLAG_BY_NAME, envName } from './flags.js';
import * as s from './schema.js';
import { pickSource, readSecret, secretOrigin } from './sources.js';
import { maskServer } from './mask.js';
import { tlsFileProblems } from './tls-files.js';
import type { Raw } from './sources.js';
import type { Command, Config, LeaderElect, TlsFiles } from './types.js';

// Loaded only when used (a config file, a cron schedule): every one-shot run pays for what it imports.
const requireLazily = createRequire(import.meta.url);
const validCron = (expression: string): boolean => (requireLazily('node-cron') as typeof import('node-cron')).validate(expression);

export interface LoadInput {
  readonly command: Command;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile?: (path: string) => Buffer;
}

const shape = {
  'zookeeper-servers': s.hostPortList('ZooKeeper servers, host[:port]', 2181),
  'zookeeper-prefix': s.zkPathList(false, true),
  'zookeeper-exclude-prefix': s.zkPathList(true),
  // At least 1s: the watcher gives leadership up after twice this without ZooKeeper (servers grant 4s-40s by default).
  'zookeeper-session-timeout': s.duration(600_000, 1000),
  'etcd-servers': s.etcdEndpoints,
  'etcd-prefix': z.string(),
  'redis-server': s.redisServer,
  'redis-tls': s.bool,
  instance: s.instanceName,
  'legacy-ownership': s.bool,
  concurrent: s.int(1, 10_000),
  fix: s.bool,
  'dry-run': s.bool,
  'max-round': s.int(1, 100),
  'round-interval': s.duration(3_600_000),
  'max-delete': s.maxDelete,
  force: s.bool,
  'allow-empty-source': s.bool,
  'skip-ephemeral': s.bool,
  'zookeeper-fast-path': s.oneOf(['auto', 'on', 'off'] as const),
  output: s.oneOf(['text', 'json'] as const),
  'pushgateway-url': s.httpUrl.optional(),
  'log-level': z.string().transform((v, ctx) => parseLogLevel(v) ?? (ctx.addIssue({ code: 'custom', message: `must be one of ${LOG_LEVELS_HELP}` }), z.NEVER)),
  'enable-event-log': s.bool,
  'fullsync-interval': s.fullSync,
  // 1.x's boolean (true, its default and its bare flag: a Kubernetes Lease; false: none) keeps its meaning.
  'leader-elect': z
    .string()
    .transform((raw, ctx): LeaderElect => {
      const v = normalizeBoolean(raw) ?? raw.trim().toLowerCase();
      if (v === 'true') return 'kubernetes';
      if (v === 'false') return 'none';
      if (v === 'kubernetes' || v === 'etcd' || v === 'none') return v;
      ctx.addIssue({ code: 'custom', message: "must be one of kubernetes, etcd, none (or 1.x's true and false)" });
      return z.NEVER;
    })
    .optional(),
  'lease-name': z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/, 'must be a DNS-1123 name such as zk2etcd'),
  'lease-namespace': z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name').optional(),
  'http-addr': s.httpAddr,
  'etcd-cacert': z.string().optional(),
  'etcd-cert': z.string().optional(),
  'etcd-key': z.string().optional(),
  'etcd-username': z.string().optional(),
  'redis-username': z.string().optional(),
};

/** Reads flags > environment > config file > defaults, validates everything, returns a frozen Config. */
export function loadConfig(input: LoadInput): Config {
  const readFile = input.readFile ?? ((p: string) => readFileSync(p));
  const argv = parseArgv(input.argv);
  const problems = [...argv.problems];
  // Not echoed: a stray argument is often the value of a misspelled secret flag.
  if (argv.positionals.length > 0) problems.push(`unexpected argument at position ${input.argv.indexOf(argv.positionals[0] as string) + 1} (flags start with --; is a flag name misspelled?)`);

  const fileValues = readConfigFile(argv.values.get('config') ?? input.env[envName('config')], readFile, problems);
  const raw = new Map<string, Raw>();
  const from = { flags: argv.values, env: input.env, file: fileValues };
  for (const name of FLAG_BY_NAME.keys()) {
    const picked = pickSource(name, from);
    if (picked) raw.set(name, picked);
  }

  const secrets = readSecrets(raw, readFile, problems);
  const values: Record<string, string | undefined> = {};
  for (const f of FLAGS) {
    if (f.secret || f.notInFile) continue;
    const given = raw.get(f.name)?.value;
    // An empty value of a setting without a default is "unset" (ZK2ETCD_PUSHGATEWAY_URL= in a manifest).
    values[f.name] = given === '' && f.default === undefined ? undefined : (given ?? f.default);
  }
  // Required: an empty value makes the field schema report "is required".
  for (const name of ['zookeeper-servers', 'etcd-servers', 'redis-server']) values[name] ??= '';

  // Each field on its own, so one bad value never hides the other problems.
  const parsed: Partial<Parsed> = {};
  for (const name of Object.keys(shape) as (keyof Parsed)[]) {
    const result = (shape[name] as z.ZodType).safeParse(values[name]);
    if (result.success) (parsed as Record<string, unknown>)[name] = result.data;
    else {
      const given = raw.get(name);
      const origin = given ? ` (got "${maskCredentials(name, given.value)}" from ${given.label})` : '';
      for (const issue of result.error.issues) problems.push(`--${name}: ${maskCredentials('', issue.message)}${origin}`);
    }
  }
  const v = parsed;

  const fullSync = v['fullsync-interval'];
  if (fullSync?.kind === 'cron' && !validCron(fullSync.expression)) {
    problems.push(`--fullsync-interval: "${fullSync.expression}" is not a valid cron expression; must be ${s.FULL_SYNC_ACCEPTS}${originNote(raw, 'fullsync-interval')}`);
  }
  const prefixes = v['zookeeper-prefix'] ?? [];
  const excludesFrom = raw.get('zookeeper-exclude-prefix');
  for (const ex of v['zookeeper-exclude-prefix'] ?? []) {
    for (const p of prefixes) {
      if (covers(ex, p)) {
        const why = excludesFrom ? originNote(raw, 'zookeeper-exclude-prefix') : ` (the default; --zookeeper-exclude-prefix= excludes nothing)`;
        problems.push(`--zookeeper-exclude-prefix: ${ex} excludes the whole prefix ${p}${why}`);
      }
    }
    // Typed on the command line, an exclude under no prefix is a typo (or 1.x's raw-string habit).
    // From the environment or a file it is accepted: shards share one ConfigMap and its exclude list.
    if (excludesFrom?.source === 'flag' && prefixes.length > 0 && !prefixes.some((p) => covers(p, ex) || covers(ex, p))) {
      problems.push(`--zookeeper-exclude-prefix: ${ex} is under none of the prefixes (${prefixes.join(', ')}), so it would exclude nothing; prefixes match whole path segments`);
    }
  }
  if (v['etcd-prefix']?.includes('\0')) problems.push('--etcd-prefix: must not contain NUL');
  // The key is the prefix + the path, which starts with /: "/registry/" would make "/registry//dubbo".
  if (v['etcd-prefix']?.endsWith('/')) {
    const prefix = v['etcd-prefix'];
    problems.push(`--etcd-prefix: must not end with / (the key is the prefix followed by the ZooKeeper path, which starts with /: use "${prefix.replace(/\/+$/, '')}")${originNote(raw, 'etcd-prefix')}`);
  }
  if (Boolean(v['etcd-cert']) !== Boolean(v['etcd-key'])) {
    const set = v['etcd-cert'] ? 'etcd-cert' : 'etcd-key';
    problems.push(`--etcd-cert and --etcd-key: set both or neither (only --${set} is set${originNote(raw, set, true)})`);
  }
  if (Boolean(v['etcd-username']) !== Boolean(secrets.get('etcd-password'))) {
    const set = v['etcd-username']
      ? `--etcd-username is set${originNote(raw, 'etcd-username', true)}`
      : `the password is set, from ${secretOrigin(raw.get('etcd-password'), raw.get('etcd-password-file'))}`;
    problems.push(`--etcd-username and --etcd-password(-file): set both or neither (only ${set})`);
  }
  const zkAuth = secrets.get('zookeeper-auth') ?? null;
  if (zkAuth !== null && !/^[^:]+:.+$/.test(zkAuth)) {
    problems.push(`--zookeeper-auth: must be user:password (from ${secretOrigin(raw.get('zookeeper-auth'), raw.get('zookeeper-auth-file'))})`);
  }
  const tls = readTls(raw, v, readFile, problems);
  problems.push(...commandFlagProblems(input.command, argv.values.keys(), { value: v['dry-run'], from: raw.get('dry-run') }));
  // 1.x's --fix chose between diff and fix; the fix and reconcile commands always fix. From the environment
  // or a file it is a setting for diff (a ConfigMap the reconcile CronJob shares), not a contradiction.
  if (v.fix === false && raw.get('fix')?.source === 'flag' && (input.command === 'fix' || input.command === 'reconcile')) {
    problems.push(`--fix: false contradicts the ${input.command} command, which always fixes; use diff to only compare`);
  }
  if (problems.length > 0) throw new ConfigError(problems, v.output);
  return deepFreeze(buildConfig(input, parsed as Parsed, secrets, tls, zkAuth));
}

type Parsed = { [K in keyof typeof shape]: z.output<(typeof shape)[K]> };

function buildConfig(input: LoadInput, v: Parsed, secrets: Map<string, string>, tls: TlsFiles | null, zkAuth: string | null): Config {
  const leaderElect: LeaderElect = v['leader-elect'] ?? (input.env.KUBERNETES_SERVICE_HOST ? 'kubernetes' : 'none');
  const config: Config = {
    command: input.command,
    zookeeper: {
      servers: v['zookeeper-servers'],
      prefixes: v['zookeeper-prefix'],
      excludes: v['zookeeper-exclude-prefix'],
      auth: zkAuth,
      sessionTimeoutMs: v['zookeeper-session-timeout'],
      skipEphemeral: v['skip-ephemeral'],
      fastPath: v['zookeeper-fast-path'],
      allowEmptySource: v['allow-empty-source'],
    },
    etcd: {
      endpoints: v['etcd-servers'],
      prefix: v['etcd-prefix'],
      tls,
      username: v['etcd-username'] ?? null,
      password: secrets.get('etcd-password') ?? null,
    },
    redis: {
      url: v['redis-server'],
      username: v['redis-username'] ?? null,
      password: secrets.get('redis-password') ?? null,
      tls: v['redis-tls'] || v['redis-server'].startsWith('rediss://'),
    },
    instance: v.instance,
    legacyOwnership: v['legacy-ownership'],
    concurrent: v.concurrent,
    fix: input.command === 'fix' || input.command === 'reconcile' || v.fix,
    dryRun: v['dry-run'],
    maxRound: v['max-round'],
    roundIntervalMs: v['round-interval'],
    maxDelete: v['max-delete'],
    force: v.force,
    output: v.output,
    pushgatewayUrl: v['pushgateway-url'] ?? null,
    logLevel: v['log-level'],
    enableEventLog: v['enable-event-log'],
    fullSync: v['fullsync-interval'],
    leaderElect,
    leaseName: v['lease-name'],
    leaseNamespace: v['lease-namespace'] ?? null,
    httpAddr: v['http-addr'],
    adminToken: secrets.get('admin-token') ?? null,
  };
  return config;
}

/**
 * Where a value came from, for messages that do not echo it: ` (from ZK2ETCD_…)` or a config file key, or
 * in `inline` form `, from …`; nothing for a flag or a default.
 */
function originNote(raw: ReadonlyMap<string, Raw>, name: string, inline = false): string {
  const given = raw.get(name);
  if (!given || given.source === 'flag') return '';
  return inline ? `, from ${given.label}` : ` (from ${given.label})`;
}

/** The settings that name servers: an `@` there marks credentials, whatever their form. */
const SERVER_FLAGS = new Set(['zookeeper-servers', 'etcd-servers', 'redis-server', 'pushgateway-url']);

/** Echoed values never show credentials: in a server setting see maskServer, elsewhere a URL's user info. */
function maskCredentials(name: string, value: string): string {
  if (SERVER_FLAGS.has(name)) return maskServer(value);
  return value.replace(/(\/\/)[^/@\s]*@/g, '$1***@');
}

/** Every secret, as its value or its `-file`: the form from the higher-ranked source wins (see readSecret). */
function readSecrets(raw: Map<string, Raw>, readFile: (p: string) => Buffer, problems: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of FLAGS) {
    if (!f.secret) continue;
    const value = readSecret(f.name, raw.get(f.name), raw.get(`${f.name}-file`), readFile, problems);
    if (value !== undefined) out.set(f.name, value);
  }
  return out;
}

function readTls(
  raw: ReadonlyMap<string, Raw>,
  v: { 'etcd-cacert'?: string | undefined; 'etcd-cert'?: string | undefined; 'etcd-key'?: string | undefined },
  readFile: (p: string) => Buffer,
  problems: string[],
): TlsFiles | null {
  const read = (flag: 'etcd-cacert' | 'etcd-cert' | 'etcd-key'): { path: string; bytes: Buffer } | null => {
    const path = v[flag];
    if (!path) return null;
    try {
      return { path, bytes: readFile(path) };
    } catch (err) {
      problems.push(`--${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})${originNote(raw, flag)}`);
      return null;
    }
  };
  const files = { ca: read('etcd-cacert'), cert: read('etcd-cert'), key: read('etcd-key') };
  problems.push(...tlsFileProblems(files, (flag) => originNote(raw, flag)));
  const { ca, cert, key } = files;
  return ca || cert || key ? { ca: ca?.bytes ?? null, cert: cert?.bytes ?? null, key: key?.bytes ?? null } : null;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Buffer.isBuffer(o)) {
    for (const value of Object.values(o)) deepFreeze(value);
    Object.freeze(o);
  }
  return o;
}
