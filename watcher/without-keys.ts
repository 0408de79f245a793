import type { PlanWriter } from '../common/apply/writer.js';

/** A writer that leaves out keys in `skip()` (keys the event path owns for now). */
export function withoutKeys(inner: PlanWriter, skip: () => ReadonlySet<string>): PlanWriter {
  return {
    write(p, signal) {
      const s = skip();
      if (s.size === 0) return inner.write(p, signal);
      return inner.write(
        {
          ...p,
          missing: p.missing.filter((a) => !s.has(a.key)),
          changed: p.changed.filter((a) => !s.has(a.key)),
          extra: p.extra.filter((a) => !s.has(a.key)),
        },
        signal,
      );
    },
  };
}
