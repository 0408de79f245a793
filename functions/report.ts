import type { ReconcileResult } from '../common/reconcile.js';
import { differenceCount } from '../common/plan/plan.js';
import { ExitCode } from '../common/errors.js';

export const KEY_LIST_CAP = 1000;

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
  readonly durationSeconds: number;
}

export function buildReport(result: ReconcileResult, dryRun: boolean): Report {
  const p = result.plan;
  let truncated = false;
  const cap = (keys: readonly string[]) => {
    if (keys.length > KEY_LIST_CAP) truncated = true;
    return keys.slice(0, KEY_LIST_CAP);
  };
  const report: Report = {
    inSync: differenceCount(p) === 0,
    counts: {
      zookeeper: result.zkNodes,
      etcd: result.etcdKeys,
      missing: p.missing.length,
      changed: p.changed.length,
      extra: p.extra.length,
      foreign: p.foreign.length,
      conflict: p.conflict.length,
    },
    missing: cap(p.missing.map((a) => a.key)),
    changed: cap(p.changed.map((a) => a.key)),
    extra: cap(p.extra.map((a) => a.key)),
    foreign: cap(p.foreign),
    conflict: cap(p.conflict),
    applied: result.applied && !dryRun ? { put: result.applied.put, delete: result.applied.delete, skipped: result.applied.skipped } : null,
    dryRun,
    durationSeconds: Math.round(result.durationSeconds * 1000) / 1000,
  };
  return truncated ? { ...report, truncated: true } : report;
}

/** 0 in sync or fully fixed; 3 differences found (diff) or left unfixed (fix). */
export function exitCodeFor(report: Report): number {
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
  return lines.join('\n');
}
