export type Command = 'diff' | 'fix' | 'reconcile' | 'sync';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LeaderElect = 'kubernetes' | 'etcd' | 'none';
export type MaxDelete = { readonly kind: 'count'; readonly value: number } | { readonly kind: 'percent'; readonly value: number };
export type FullSync = { readonly kind: 'off' } | { readonly kind: 'interval'; readonly ms: number } | { readonly kind: 'cron'; readonly expression: string };

export interface TlsFiles {
  readonly ca: Buffer | null;
  readonly cert: Buffer | null;
  readonly key: Buffer | null;
}

export interface Config {
  readonly command: Command;
  readonly zookeeper: {
    readonly servers: readonly string[];
    readonly prefixes: readonly string[];
    readonly excludes: readonly string[];
    readonly auth: string | null;
    readonly sessionTimeoutMs: number;
    readonly skipEphemeral: boolean;
    /** The protocol client with multiRead and persistent recursive watches (3.6+), or the addon. */
    readonly fastPath: 'auto' | 'on' | 'off';
    readonly allowEmptySource: boolean;
  };
  readonly etcd: {
    readonly endpoints: readonly string[];
    readonly prefix: string;
    readonly tls: TlsFiles | null;
    readonly username: string | null;
    readonly password: string | null;
  };
  readonly redis: {
    readonly url: string;
    readonly username: string | null;
    readonly password: string | null;
    readonly tls: boolean;
  };
  readonly instance: string;
  readonly legacyOwnership: boolean;
  readonly concurrent: number;
  readonly fix: boolean;
  readonly dryRun: boolean;
  readonly maxRound: number;
  readonly roundIntervalMs: number;
  readonly maxDelete: MaxDelete;
  readonly force: boolean;
  readonly output: 'text' | 'json';
  readonly pushgatewayUrl: string | null;
  readonly logLevel: LogLevel;
  readonly enableEventLog: boolean;
  readonly fullSync: FullSync;
  readonly leaderElect: LeaderElect;
  readonly leaseName: string;
  readonly leaseNamespace: string | null;
  readonly httpAddr: { readonly host: string; readonly port: number };
  readonly adminToken: string | null;
}
