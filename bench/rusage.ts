/**
 * Preload hook (`node --import dist/bench/rusage.js ...`) used when /usr/bin/time is missing: on exit,
 * writes this process's CPU time and peak RSS to the file named by ZK2ETCD_BENCH_RUSAGE_OUT.
 */
import { writeFileSync } from 'node:fs';

const out = process.env.ZK2ETCD_BENCH_RUSAGE_OUT;
if (out) {
  delete process.env.ZK2ETCD_BENCH_RUSAGE_OUT;
  process.on('exit', () => {
    const r = process.resourceUsage();
    writeFileSync(out, JSON.stringify({ userSeconds: r.userCPUTime / 1e6, systemSeconds: r.systemCPUTime / 1e6, maxRssKb: r.maxRSS }));
  });
}
