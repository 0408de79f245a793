#!/usr/bin/env bash
# The whole test suite on a fresh machine: dependencies, servers on loopback, build, unit + integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/services.sh start
# shellcheck disable=SC1091
source "${ZK2ETCD_SERVICES_DIR:-/tmp/zk2etcd-services}/env"
rm -rf dist && npm run build --silent  # no stale compiled tests

units=$(find dist/test/unit -name '*.test.js' | sort)
integration=$(find dist/test/integration -name '*.test.js' | sort)
# Integration files share the servers; two at a time fits these 2-core machines.
# shellcheck disable=SC2086
node --test --test-concurrency=2 --test-timeout=600000 $units $integration
