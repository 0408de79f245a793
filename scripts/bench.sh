#!/usr/bin/env bash
# Benchmark on a fresh machine: servers on loopback, build, then bench/run.ts at one size.
#   npm run bench [-- 10k|70k|300k|1m] [--runs N]      (default 70k, 1 run per step)
#   npm run bench:watcher [-- 10k|70k|300k|1m] [--out NAME.json]   (bench/watcher.ts: `bench.sh watcher ...`)
# Prints a markdown table; writes bench/results/<date>-<size>.json (the watcher: <date>-watcher-<size>.json).
set -euo pipefail
cd "$(dirname "$0")/.."

script=dist/bench/run.js
if [ "${1:-}" = watcher ]; then script=dist/bench/watcher.js; shift; fi

# The size comes first; any further arguments go to run.js (--runs N, --keep, --rusage node, --concurrent N).
size=70k
case "${1:-}" in
  10k|70k|300k|1m) size=$1; shift ;;
  ''|-*) ;;
  *) echo "usage: npm run bench -- [10k|70k|300k|1m] [--runs N] [--keep] [--rusage auto|time|node]; npm run bench:watcher -- [10k|70k|300k|1m] [--out NAME.json]" >&2; exit 2 ;;
esac

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# GNU time measures the CLI's CPU and peak RSS (Debian package `time`); without it run.ts falls back
# to a preload hook reading process.resourceUsage().
if [ ! -x /usr/bin/time ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "[bench] installing GNU time" >&2
  { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null; } ||
    echo "[bench] could not install time; using the process.resourceUsage fallback" >&2
fi

bash scripts/services.sh start
# shellcheck disable=SC1091
source "${ZK2ETCD_SERVICES_DIR:-/tmp/zk2etcd-services}/env"
npm run build --silent

# The generated tree stays in memory (about 1 KB a node): give the 300k and 1m runs room. --expose-gc:
# the watcher benchmark collects its own heap before each latency phase, so that pause is not measured.
exec node --max-old-space-size=8192 --expose-gc "$script" --size "$size" "$@"
