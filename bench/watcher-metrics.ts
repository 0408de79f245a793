import { setTimeout as sleep } from 'node:timers/promises';
import type { WatcherProcess } from '../test/helpers/watcher-process.js';
import { r2 } from './latency.js';

/** What the watcher benchmark reads from the watcher's own /metrics. */

export interface MemSample {
  rssBytes: number;
  heapUsedBytes: number;
  mirroredNodes: number;
}

export async function metrics(w: WatcherProcess): Promise<MemSample> {
  const text = await (await fetch(`${w.url}/metrics`)).text();
  const get = (name: string): number => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)`, 'm').exec(text);
    if (!m) throw new Error(`metric ${name} not found`);
    return Number(m[1]);
  };
  return {
    rssBytes: get('process_resident_memory_bytes'),
    heapUsedBytes: get('nodejs_heap_size_used_bytes'),
    mirroredNodes: get('zk2etcd_mirrored_nodes'),
  };
}

/** The watcher's own lag histogram (`zk2etcd_sync_lag_seconds`, its event seen → etcd commit): le -> count. */
export async function lagBuckets(w: WatcherProcess): Promise<Map<string, number>> {
  const text = await (await fetch(`${w.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^zk2etcd_sync_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.eE+-]+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

/** Share of the changes between two histogram reads whose watcher-side lag was within each bound. */
export function lagShares(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  const shares: Record<string, number> = { changes: total };
  for (const le of ['0.01', '0.025', '0.05', '0.1']) {
    shares[`≤${Number(le) * 1000} ms`] = total > 0 ? r2(((after.get(le) ?? 0) - (before.get(le) ?? 0)) / total) : NaN;
  }
  return shares;
}

/** Two samples: after 5 s idle, and 5 s later. */
export async function memSamples(w: WatcherProcess): Promise<MemSample[]> {
  await sleep(5000);
  const a = await metrics(w);
  await sleep(5000);
  const b = await metrics(w);
  return [a, b];
}
