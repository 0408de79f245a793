#!/usr/bin/env bash
# First run on a fresh machine: local servers, a sample Dubbo registry, diff, fix, a live change, diff, fix.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
bash scripts/services.sh start
# shellcheck disable=SC1091
source "${ZK2ETCD_SERVICES_DIR:-/tmp/zk2etcd-services}/env"
export ZK2ETCD_INSTANCE=demo
# Inside the test suite the build is already there (and other tests are running from it).
[ "${DEMO_SKIP_BUILD:-0}" = 1 ] || npm run build --silent
zk2etcd() { node dist/cli/zk2etcd.js "$@"; }
etcd() { etcdctl --endpoints "$ZK2ETCD_ETCD_SERVERS" "$@"; }
finish() {
  if [ "${KEEP_SERVICES:-0}" != 1 ]; then step "stopping the local servers (KEEP_SERVICES=1 keeps them)"; bash scripts/services.sh stop; fi
}
trap finish EXIT

step "loading a sample registry into ZooKeeper"
etcd del --prefix /dubbo >/dev/null
redis-cli -p "${ZK2ETCD_REDIS_SERVER##*:}" del 'zk2etcd:{demo}:owned' >/dev/null
node scripts/sample-tree.mjs /dubbo
etcd put /dubbo/written-by-another-tool 'not ours: zk2etcd never deletes it' >/dev/null

step "zk2etcd diff (exit 3: etcd is empty)"
zk2etcd diff --log-level=warn || echo "(exit $?)"

step "zk2etcd fix"
zk2etcd fix --log-level=warn

step "zk2etcd diff (in sync)"
zk2etcd diff --log-level=warn

step "live changes in ZooKeeper: a provider restarts (delete + create), a data-only change"
node --input-type=module -e "
import { testZk } from './dist/test/helpers/services.js';
const zk = await testZk();
const base = '/dubbo/com.example.service.Service0/providers/';
const old = base + encodeURIComponent(process.argv[1]);
await zk.remove(old).catch(() => {});
await zk.create(base + encodeURIComponent('dubbo://10.9.9.9:20880/com.example.service.Service0?pid=4242&timestamp=' + Date.now()), Buffer.from('10.9.9.9'));
await zk.set('/dubbo/com.example.service.Service1', Buffer.from('data-only change'));
zk.close();
console.log('changed 3 znodes');
" "$(node --input-type=module -e "
import { dubboTree } from './dist/test/helpers/dubbo.js';
const p = dubboTree('/dubbo', 1, 1, 0).at(-1)[0]; console.log(decodeURIComponent(p.split('/providers/')[1]));
")"

step "zk2etcd diff (shows the live changes)"
zk2etcd diff --log-level=warn || echo "(exit $?)"

step "zk2etcd fix"
zk2etcd fix --log-level=warn

step "etcd now holds the change"
etcd get /dubbo/com.example.service.Service1
etcd get /dubbo/written-by-another-tool --print-value-only | sed 's/^/foreign key still there: /'

step "zk2etcd sync: the watcher follows live changes"
node dist/cli/zk2etcd.js sync --http-addr=127.0.0.1:${DEMO_HTTP_PORT:-18080} --log-level=warn > /tmp/zk2etcd-demo-sync.log 2>&1 &
SYNC_PID=$!
for _ in $(seq 1 100); do curl -fs "127.0.0.1:${DEMO_HTTP_PORT:-18080}/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
sleep 1
node --input-type=module -e "
import { testZk } from './dist/test/helpers/services.js';
const zk = await testZk();
const started = Date.now();
await zk.create('/dubbo/com.example.service.Service7/providers/' + encodeURIComponent('dubbo://10.7.7.7:20880/demo?pid=7&timestamp=' + started), Buffer.from('10.7.7.7'));
await zk.set('/dubbo/com.example.service.Service8', Buffer.from('live data change'));
zk.close();
console.log('made 2 live changes in ZooKeeper');
"
# The watcher is loading the tree meanwhile; on a busy machine that can take a while.
for _ in $(seq 1 300); do
  [ "$(etcd get /dubbo/com.example.service.Service8 --print-value-only)" = "live data change" ] &&
    etcd get --prefix /dubbo/com.example.service.Service7/providers/ --keys-only | grep -q demo && break
  sleep 0.1
done
etcd get --prefix /dubbo/com.example.service.Service7/providers/ --keys-only | grep 'demo' | sed 's/^/arrived in etcd: /'
etcd get /dubbo/com.example.service.Service8 --print-value-only | sed 's/^/arrived in etcd: Service8 = /'
curl -s "127.0.0.1:${DEMO_HTTP_PORT:-18080}/metrics" | grep -E '^zk2etcd_(sync_lag_seconds_(sum|count)|mirrored_nodes|leader) '
kill -TERM "$SYNC_PID"; wait "$SYNC_PID" && echo "watcher stopped cleanly (exit 0)"
