/** Every flag zk2etcd accepts: the single source for argv parsing, env names, config-file keys and help. */
export type FlagKind = 'string' | 'boolean';

export interface FlagDef {
  readonly name: string;
  readonly kind: FlagKind;
  readonly default?: string;
  readonly help: string;
  /** Secrets are never printed and also accept a `<name>-file` variant. */
  readonly secret?: boolean;
  /** Not a config-file key (`config` names that file): flag or environment only. */
  readonly notInFile?: boolean;
  /** Used only by the watcher (`sync`) or only by the one-shot commands: refused on the others' command line. */
  readonly only?: 'sync' | 'one-shot';
  /** The value of a string flag given with none (zk2etcd 1.x's bare boolean `--leader-elect`). */
  readonly bare?: string;
}

export const FLAGS: readonly FlagDef[] = [
  { name: 'zookeeper-servers', kind: 'string', help: 'comma-separated ZooKeeper servers, host:port (required)' },
  { name: 'zookeeper-prefix', kind: 'string', default: '/dubbo', help: 'comma-separated ZooKeeper subtrees to mirror' },
  { name: 'zookeeper-exclude-prefix', kind: 'string', default: '/dubbo/config', help: 'comma-separated subtrees to leave out (empty: none)' },
  { name: 'zookeeper-auth', kind: 'string', secret: true, help: 'ZooKeeper digest auth, user:password' },
  { name: 'zookeeper-session-timeout', kind: 'string', default: '30s', help: 'ZooKeeper session timeout' },
  { name: 'zookeeper-fast-path', kind: 'string', default: 'auto', help: 'auto, on or off: batched multiRead walks and persistent recursive watches (ZooKeeper 3.6+); auto uses them when the server supports them' },
  { name: 'etcd-servers', kind: 'string', help: 'comma-separated etcd endpoints, http(s)://host:port or host:port (required)' },
  { name: 'etcd-prefix', kind: 'string', default: '', help: 'prepended to every ZooKeeper path to form the etcd key' },
  { name: 'etcd-cacert', kind: 'string', help: 'CA bundle (file) to verify etcd servers' },
  { name: 'etcd-cert', kind: 'string', help: 'client certificate (file) for etcd' },
  { name: 'etcd-key', kind: 'string', help: 'client private key (file) for etcd' },
  { name: 'etcd-username', kind: 'string', help: 'etcd user' },
  { name: 'etcd-password', kind: 'string', secret: true, help: 'etcd password' },
  { name: 'redis-server', kind: 'string', help: 'ownership store: host:port or redis[s]://host:port[/db] (required)' },
  { name: 'redis-username', kind: 'string', help: 'Redis ACL user' },
  { name: 'redis-password', kind: 'string', secret: true, help: 'Redis password' },
  { name: 'redis-tls', kind: 'boolean', default: 'false', help: 'connect to Redis over TLS' },
  { name: 'instance', kind: 'string', default: 'default', help: 'ownership namespace in Redis; one per deployment' },
  { name: 'legacy-ownership', kind: 'boolean', default: 'false', help: 'also accept zk2etcd 1.x records (plain keys in DB 0) as ours' },
  { name: 'concurrent', kind: 'string', default: '50', help: 'ZooKeeper requests in flight during a walk' },
  { name: 'fix', only: 'one-shot', kind: 'boolean', default: 'false', help: 'diff: also apply the fix (same as the fix command)' },
  { name: 'dry-run', only: 'one-shot', kind: 'boolean', default: 'false', help: 'print the plan, change nothing' },
  { name: 'max-round', kind: 'string', default: '1', help: 'confirmation rounds; only differences seen in every round are reported or fixed' },
  { name: 'round-interval', kind: 'string', default: '3s', help: 'pause between confirmation rounds' },
  { name: 'max-delete', kind: 'string', default: '50%', help: 'refuse a fix deleting more than this (N or N% of our keys)' },
  { name: 'force', kind: 'boolean', default: 'false', help: 'apply even when the deletion guard refuses' },
  { name: 'allow-empty-source', kind: 'boolean', default: 'false', help: 'treat a missing ZooKeeper prefix as an empty tree' },
  { name: 'skip-ephemeral', kind: 'boolean', default: 'false', help: 'leave ephemeral znodes out' },
  { name: 'output', only: 'one-shot', kind: 'string', default: 'text', help: 'report format: text or json' },
  { name: 'pushgateway-url', only: 'one-shot', kind: 'string', help: 'push one-shot metrics to this Prometheus Pushgateway' },
  { name: 'log-level', kind: 'string', default: 'info', help: 'debug, info, warn or error' },
  { name: 'enable-event-log', kind: 'boolean', default: 'false', help: 'one log line per applied change' },
  { name: 'fullsync-interval', only: 'sync', kind: 'string', default: '5m', help: 'sync: scheduled full reconcile, a duration or a cron expression; 0 disables' },
  { name: 'leader-elect', only: 'sync', kind: 'string', bare: 'true', help: 'sync: kubernetes, etcd or none (default: kubernetes in a cluster, else none); 1.x\'s true (or the bare flag) and false mean kubernetes and none' },
  { name: 'lease-name', only: 'sync', kind: 'string', default: 'zk2etcd', help: 'sync: Lease / etcd election name' },
  { name: 'lease-namespace', only: 'sync', kind: 'string', help: "sync: Lease namespace (default: the pod's namespace)" },
  { name: 'http-addr', only: 'sync', kind: 'string', default: ':8080', help: 'sync: metrics and health address' },
  { name: 'admin-token', only: 'sync', kind: 'string', secret: true, help: 'sync: token required by POST /log' },
  { name: 'config', kind: 'string', notInFile: true, help: 'YAML or JSON file whose keys are flag names' },
];

export const FLAG_BY_NAME: ReadonlyMap<string, FlagDef> = new Map(
  FLAGS.flatMap((f) => {
    const pairs: [string, FlagDef][] = [[f.name, f]];
    if (f.secret) pairs.push([`${f.name}-file`, { name: `${f.name}-file`, kind: 'string', help: `file holding ${f.name}`, ...(f.only ? { only: f.only } : {}) }]);
    return pairs;
  }),
);

export function envName(flag: string): string {
  return `ZK2ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;
}
