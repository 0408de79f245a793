#!/usr/bin/env bash
# Installs (Debian packages) and starts ZooKeeper, etcd, Redis and Pushgateway on loopback for the
# demo and the tests. Safe to run twice: a healthy service is left running; state lives in $STATE.
#   scripts/services.sh start|stop|status|env
set -euo pipefail

STATE=${ZK2ETCD_SERVICES_DIR:-/tmp/zk2etcd-services}
ZK_PORT=${ZK_PORT:-22181}
ETCD_PORT=${ETCD_PORT:-22379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-22380}
REDIS_PORT=${REDIS_PORT:-26379}
PUSHGATEWAY_PORT=${PUSHGATEWAY_PORT:-29091}

log() { printf '[services] %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  [ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
  command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || missing+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
  command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus) # promtool checks the alert rules in the tests
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    # Debian's postinst scripts must not start system-wide copies of these servers.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null; $sudo chmod +x /usr/sbin/policy-rc.d
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    $sudo rm -f /usr/sbin/policy-rc.d
  fi
}

zk_healthy() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null ) || true
  [ "$reply" = imok ]
}
etcd_healthy() { curl -fsS "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
redis_healthy() { [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
pushgateway_healthy() { curl -fsS "http://127.0.0.1:$PUSHGATEWAY_PORT/-/healthy" >/dev/null 2>&1; }

wait_for() { # name check-fn
  local i
  for i in $(seq 1 120); do "$2" && { log "$1 healthy"; return 0; }; sleep 0.5; done
  log "$1 did not become healthy; log: $STATE/$1.log"; tail -n 30 "$STATE/$1.log" >&2 || true; return 1
}

start_bg() { # name cmd...
  local name=$1; shift
  nohup setsid "$@" >"$STATE/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

start_zk() {
  zk_healthy && { log "zookeeper already running on $ZK_PORT"; return; }
  rm -rf "$STATE/zk-data"; mkdir -p "$STATE/zk-data" # fixtures: a stopped server starts empty
  cat >"$STATE/zoo.cfg" <<CFG
tickTime=500
minSessionTimeout=1000
maxSessionTimeout=60000
dataDir=$STATE/zk-data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
forceSync=no
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
CFG
  # A 1M-node benchmark tree of ~1 KB names takes about 2.5 GB of ZooKeeper heap.
  start_bg zookeeper java -Xmx6g -Dzookeeper.jmx.log4j.disable=true -cp "/usr/share/java/*:/etc/zookeeper/conf" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$STATE/zoo.cfg"
  wait_for zookeeper zk_healthy
}

start_etcd() {
  etcd_healthy && { log "etcd already running on $ETCD_PORT"; return; }
  rm -rf "$STATE/etcd-data"
  # Compaction keeps the fixture small; 5m is longer than any paged snapshot read pins its revision.
  # etcd 3.4 keeps the raft log in memory until a snapshot, 100,000 entries by default: with 128-op
  # transactions of ~1 KB keys that grew past 20 GB over a session of tests and benchmarks.
  start_bg etcd etcd --name zk2etcd-test --data-dir "$STATE/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "zk2etcd-test=http://127.0.0.1:$ETCD_PEER_PORT" --quota-backend-bytes 8589934592 \
    --unsafe-no-fsync --auto-compaction-mode periodic --auto-compaction-retention 5m --snapshot-count 10000
  wait_for etcd etcd_healthy
}

start_redis() {
  redis_healthy && { log "redis already running on $REDIS_PORT"; return; }
  mkdir -p "$STATE/redis-data"
  start_bg redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STATE/redis-data" --save '' --appendonly no
  wait_for redis redis_healthy
}

start_pushgateway() {
  pushgateway_healthy && { log "pushgateway already running on $PUSHGATEWAY_PORT"; return; }
  start_bg pushgateway prometheus-pushgateway --web.listen-address="127.0.0.1:$PUSHGATEWAY_PORT"
  wait_for pushgateway pushgateway_healthy
}

print_env() {
  cat <<ENV
export ZK2ETCD_ZOOKEEPER_SERVERS=127.0.0.1:$ZK_PORT
export ZK2ETCD_ETCD_SERVERS=http://127.0.0.1:$ETCD_PORT
export ZK2ETCD_REDIS_SERVER=127.0.0.1:$REDIS_PORT
export ZK2ETCD_PUSHGATEWAY_URL=http://127.0.0.1:$PUSHGATEWAY_PORT
ENV
}

stop_all() {
  local name
  for name in pushgateway redis etcd zookeeper; do
    if [ -f "$STATE/$name.pid" ]; then
      kill -- "-$(cat "$STATE/$name.pid")" 2>/dev/null || kill "$(cat "$STATE/$name.pid")" 2>/dev/null || true
      rm -f "$STATE/$name.pid"; log "stopped $name"
    fi
  done
}

case "${1:-start}" in
  start)
    mkdir -p "$STATE"
    install_packages
    command -v curl >/dev/null 2>&1 || { log "curl is required"; exit 1; }
    start_zk; start_etcd; start_redis; start_pushgateway
    print_env >"$STATE/env"
    log "all services healthy; environment in $STATE/env" ;;
  stop) stop_all ;;
  status)
    zk_healthy && echo "zookeeper: up" || echo "zookeeper: down"
    etcd_healthy && echo "etcd: up" || echo "etcd: down"
    redis_healthy && echo "redis: up" || echo "redis: down"
    pushgateway_healthy && echo "pushgateway: up" || echo "pushgateway: down" ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
