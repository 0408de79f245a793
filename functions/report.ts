import type { ReconcileResult } from '../common/reconcile.js';
import { KEY_LIST_CAP, summaryDifferences } from '../common/plan/summary.js';
import { ConfigError, DeletionGuardError, errorClassOf, ExitCode, isRetryable } from '../common/errors.js';

export { KEY_LIST_CAP };

/** The `--output json` document (SPEC §8). */
export interface Report {
  readonly inSync: boolean;
  readonly counts: {
    readonly zookeeper: number;
    readonly etcd: number;
    readonly missing: number;
    readonly changed: number;
    readonly extra: number;
    readonly foreign: number;
    readonly conflict: number;
  };
  readonly missing: readonly string[];
  readonly changed: readonly string[];
  readonly extra: readonly string[];
  readonly foreign: readonly string[];
  readonly conflict: readonly string[];
  readonly truncated?: true;
  readonly applied: null | { readonly put: number; readonly delete: number; readonly skipped: number };
  readonly dryRun: boolean;
  /** `fix --dry-run` only: the deletion guard would refuse this fix (exit 4), with its numbers. */
  readonly guard?: GuardNumbers;
  readonly durationSeconds: number;
}

export interface GuardNumbers {
  readonly wouldDelete: number;
  readonly creates: number | null;
  readonly limit: number;
  readonly owned: number;
}

const guardNumbers = (err: DeletionGuardError): GuardNumbers => ({ wouldDelete: err.wouldDelete, creates: err.creates, limit: err.limit, owned: err.owned });

export function buildReport(result: ReconcileResult, dryRun: boolean): Report {
  const { counts, keys } = result.summary;
  const truncated = (['missing', 'changed', 'extra', 'foreign', 'conflict'] as const).some((kind) => counts[kind] > keys[kind].length);
  const report: Report = {
    inSync: summaryDifferences(result.summary) === 0,
    counts: {
      zookeeper: result.zkNodes,
      etcd: result.etcdKeys,
      missing: counts.missing,
      changed: counts.changed,
      extra: counts.extra,
      foreign: counts.foreign,
      conflict: counts.conflict,
    },
    missing: keys.missing,
    changed: keys.changed,
    extra: keys.extra,
    foreign: keys.foreign,
    conflict: keys.conflict,
    applied: result.applied && !dryRun ? { put: result.applied.put, delete: result.applied.delete, skipped: result.applied.skipped } : null,
    dryRun,
    ...(result.refusedByGuard ? { guard: guardNumbers(result.refusedByGuard) } : {}),
    durationSeconds: Math.round(result.durationSeconds * 1000) / 1000,
  };
  return truncated ? { ...report, truncated: true } : report;
}

/** The `--output json` document of a run that failed (exit 1), was given bad settings (exit 2) or that the deletion guard refused (exit 4). */
export interface ErrorReport {
  readonly error: {
    readonly class: string;
    readonly message: string;
    readonly retryable: boolean;
    /** Bad settings (exit 2): one line per problem. */
    readonly problems?: readonly string[];
    /** The deletion guard's numbers (exit 4). */
    readonly guard?: GuardNumbers;
  };
}

export function errorReport(err: unknown): ErrorReport {
  const base = { class: errorClassOf(err), message: err instanceof Error ? err.message : String(err), retryable: isRetryable(err) };
  if (err instanceof ConfigError) return { error: { ...base, problems: err.problems } };
  if (!(err instanceof DeletionGuardError)) return { error: base };
  return { error: { ...base, guard: guardNumbers(err) } };
}

/** 0 in sync or fully fixed; 3 differences found (diff) or left unfixed (fix). */
export function exitCodeFor(report: Report): number {
  if (report.guard) return ExitCode.guard;
  if (report.applied === null) return report.inSync ? ExitCode.ok : ExitCode.differences;
  return report.applied.skipped > 0 ? ExitCode.differences : ExitCode.ok;
}

export function formatText(command: string, report: Report): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const state = report.inSync ? 'in sync' : report.applied ? 'differences fixed' : 'NOT in sync';
  const lines = [
    `zk2etcd ${command}: ${report.applied && report.applied.skipped > 0 ? 'differences left unfixed' : state}${report.dryRun ? ' (dry run: nothing changed)' : ''} in ${report.durationSeconds.toFixed(2)}s`,
    `  zookeeper nodes   ${n(report.counts.zookeeper)}`,
    `  etcd keys         ${n(report.counts.etcd)}`,
    `  missing           ${n(report.counts.missing)}`,
    `  changed           ${n(report.counts.changed)}`,
    `  extra (ours)      ${n(report.counts.extra)}`,
    `  foreign (kept)    ${n(report.counts.foreign)}`,
    `  conflict (kept)   ${n(report.counts.conflict)}`,
  ];
  const SHOW = 20;
  for (const kind of ['missing', 'changed', 'extra', 'conflict'] as const) {
    const keys = report[kind];
    if (keys.length === 0) continue;
    lines.push(`${kind}:`);
    for (const k of keys.slice(0, SHOW)) lines.push(`  ${k}`);
    if (report.counts[kind] > SHOW) lines.push(`  ... and ${n(report.counts[kind] - SHOW)} more (--output json lists up to ${KEY_LIST_CAP})`);
  }
  if (report.applied) lines.push(`applied: put ${n(report.applied.put)}, delete ${n(report.applied.delete)}, skipped ${n(report.applied.skipped)}`);
  if (report.guard) {
    lines.push(`deletion guard: a fix would be refused: ${n(report.guard.wouldDelete)} of our ${n(report.guard.owned)} keys to delete (limit ${n(report.guard.limit)}, --max-delete); check the ZooKeeper prefixes, then use --force or a larger --max-delete`);
  }
  return lines.join('\n');
}
