/** Base of every error zk2etcd raises on purpose; `retryable` tells callers whether to try again. */
export abstract class Zk2EtcdError extends Error {
  abstract readonly retryable: boolean;
  /** Bounded label for metrics (`status` never carries raw messages). */
  abstract readonly errorClass: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flags, environment or config file. Exit code 2; one line per problem. */
export class ConfigError extends Zk2EtcdError {
  readonly retryable = false;
  readonly errorClass = 'config';
  /** `output`: the report format asked for, when that setting itself was valid (a JSON reader gets a document). */
  constructor(
    readonly problems: readonly string[],
    readonly output?: 'text' | 'json',
  ) {
    super(problems.join('\n'));
  }
}

/** A ZooKeeper call failed for a reason other than "no node". */
export class ZkError extends Zk2EtcdError {
  readonly errorClass: string;
  constructor(
    readonly code: number,
    readonly path: string,
    readonly op: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.errorClass = `zk_${zkCodeName(code)}`;
  }
}

/** An etcd call failed. Never means "absent". */
export class EtcdError extends Zk2EtcdError {
  readonly errorClass: string;
  constructor(
    readonly op: string,
    message: string,
    readonly retryable: boolean,
    grpcName: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.errorClass = `etcd_${grpcName}`;
  }
}

/** The ownership store (Redis) cannot be reached or answered wrongly: fail closed. */
export class OwnershipUnavailableError extends Zk2EtcdError {
  readonly retryable = true;
  readonly errorClass = 'ownership_unavailable';
}

/** A configured ZooKeeper prefix does not exist (and --allow-empty-source is not set). */
export class SourceMissingError extends Zk2EtcdError {
  readonly retryable = false;
  readonly errorClass = 'source_missing';
  constructor(readonly prefix: string) {
    super(
      `ZooKeeper prefix ${prefix} does not exist; refusing to treat it as an empty tree ` +
        `(set --allow-empty-source to mirror an absent prefix as empty)`,
    );
  }
}

/** The deletion guard refused the plan. Exit code 4. */
export class DeletionGuardError extends Zk2EtcdError {
  readonly retryable = false;
  readonly errorClass = 'deletion_guard';
  constructor(
    readonly wouldDelete: number,
    readonly limit: number,
    readonly owned: number,
    /** Set when the guard counted deletes net of creates (the watcher): the creates it offset. */
    readonly creates: number | null = null,
  ) {
    super(
      (creates === null
        ? `refusing to delete ${wouldDelete} of our ${owned} keys (limit ${limit}, --max-delete); `
        : `refusing to delete ${wouldDelete} of our ${owned} keys while creating ${creates}: ${wouldDelete - creates} fewer (limit ${limit}, --max-delete); `) +
        `check the ZooKeeper prefixes, then rerun with --force or a larger --max-delete`,
    );
  }
}

/** The run was aborted by a signal. */
export class AbortedError extends Zk2EtcdError {
  readonly retryable = true;
  readonly errorClass = 'aborted';
  constructor(message = 'aborted') {
    super(message);
  }
}

/** This process stopped being the leader: stop writing at once; the process exits non-zero. */
export class LeadershipLostError extends Zk2EtcdError {
  readonly retryable = false;
  readonly errorClass = 'leadership_lost';
}

/** The leader had no ZooKeeper connection for too long: it gives leadership up so a replica that reaches ZooKeeper leads. */
export class SteppedDownError extends Zk2EtcdError {
  readonly retryable = false;
  readonly errorClass = 'stepped_down';
}

const ZK_CODE_NAMES: Record<number, string> = {
  [-1]: 'system_error',
  [-2]: 'runtime_inconsistency',
  [-3]: 'data_inconsistency',
  [-4]: 'connection_loss',
  [-5]: 'marshalling_error',
  [-6]: 'unimplemented',
  [-7]: 'operation_timeout',
  [-8]: 'bad_arguments',
  [-9]: 'invalid_state',
  [-100]: 'api_error',
  [-101]: 'no_node',
  [-102]: 'no_auth',
  [-103]: 'bad_version',
  [-108]: 'no_children_for_ephemerals',
  [-110]: 'node_exists',
  [-111]: 'not_empty',
  [-112]: 'session_expired',
  [-113]: 'invalid_callback',
  [-114]: 'invalid_acl',
  [-115]: 'auth_failed',
  [-116]: 'closing',
  [-117]: 'nothing',
  [-118]: 'session_moved',
};

export function zkCodeName(code: number): string {
  return ZK_CODE_NAMES[code] ?? 'unknown';
}

/** Exit codes of the CLI (SPEC §8). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  differences: 3,
  guard: 4,
} as const;

/** Log fields for a failure: a typed error by message and class; a stack only for what none describes (a bug). */
export function errorLogFields(err: unknown): Record<string, unknown> {
  return err instanceof Zk2EtcdError ? { err: err.message, errorClass: err.errorClass } : { err };
}

export function errorClassOf(err: unknown): string {
  return err instanceof Zk2EtcdError ? err.errorClass : 'internal';
}

export function isRetryable(err: unknown): boolean {
  return err instanceof Zk2EtcdError && err.retryable;
}
