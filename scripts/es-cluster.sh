#!/usr/bin/env bash
# A 2-node Elasticsearch cluster on loopback for Atelier's Elasticsearch catalog backend (tests,
# benchmark, README). No Docker: the server is the integ-test zip from Maven Central, fetched and
# unpacked outside the source tree by `mvn -Pes-dist -pl engine generate-resources`.
#
#   scripts/es-cluster.sh start            start both nodes, wait for green health
#   scripts/es-cluster.sh stop             stop the nodes this script started (pid files)
#   scripts/es-cluster.sh status           cluster health, or "stopped"
#   scripts/es-cluster.sh stop-node N      stop node N (1 or 2) only: fail-over tests
#   scripts/es-cluster.sh start-node N     start node N again and wait until it has joined
#
# Settings (environment): ATELIER_ES_DIST (unpacked zip root, default /var/tmp/atelier/elasticsearch),
# ATELIER_ES_WORK (data, logs, config and pid files; default /var/tmp/atelier/es-cluster),
# ATELIER_ES_PORT (HTTP port of node 1; node 2 gets +1; transport ports are +100; default 9200),
# ATELIER_ES_HEAP (default 512m), ATELIER_ES_JAVA_HOME (default: scripts/java-home.sh's JDK).
# Elasticsearch refuses to run as root: when run by root the nodes run as the unprivileged user
# ATELIER_ES_USER (default atelier-es), created with useradd if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=8.19.21
dist_root=${ATELIER_ES_DIST:-/var/tmp/atelier/elasticsearch}
home=$dist_root/elasticsearch-$version
work=${ATELIER_ES_WORK:-/var/tmp/atelier/es-cluster}
port=${ATELIER_ES_PORT:-9200}
heap=${ATELIER_ES_HEAP:-512m}
es_user=${ATELIER_ES_USER:-atelier-es}
cluster=atelier-test

http_port() { echo $((port + $1 - 1)); }
transport_port() { echo $((port + 100 + $1 - 1)); }
pid_file() { echo "$work/node$1/pid"; }

health() {
  curl -s --max-time 5 "http://127.0.0.1:$(http_port "$1")/_cluster/health${2:-}" || true
}

alive() {
  local f
  f=$(pid_file "$1")
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

ensure_dist() {
  if [[ ! -x $home/bin/elasticsearch ]]; then
    echo "es-cluster: fetching Elasticsearch $version into $dist_root (Maven)"
    # shellcheck source=/dev/null
    source "$root/scripts/java-home.sh"
    (cd "$root" && mvn -B -q -Pes-dist -pl engine generate-resources -Datelier.es.dist="$dist_root")
  fi
}

java_home() {
  if [[ -n ${ATELIER_ES_JAVA_HOME:-} ]]; then
    echo "$ATELIER_ES_JAVA_HOME"
  else
    # shellcheck source=/dev/null
    (source "$root/scripts/java-home.sh" >/dev/null; echo "$JAVA_HOME")
  fi
}

run_as() {
  # Runs "$@" as the user that owns the nodes (root is refused by Elasticsearch).
  if [[ $(id -u) -eq 0 ]]; then
    if ! id "$es_user" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$es_user"
    fi
    runuser -u "$es_user" -- "$@"
  else
    "$@"
  fi
}

start_node() {
  local n=$1 dir=$work/node$1
  if alive "$n"; then
    echo "es-cluster: node $n already running (pid $(cat "$(pid_file "$n")"))"
    return
  fi
  mkdir -p "$dir/data" "$dir/logs"
  if [[ ! -d $dir/config ]]; then
    cp -r "$home/config" "$dir/config"
  fi
  cat > "$dir/config/elasticsearch.yml" <<EOF
cluster.name: $cluster
node.name: node$n
network.host: 127.0.0.1
http.port: $(http_port "$n")
transport.port: $(transport_port "$n")
discovery.seed_hosts: ["127.0.0.1:$(transport_port 1)", "127.0.0.1:$(transport_port 2)"]
cluster.initial_master_nodes: ["node1", "node2"]
path.data: $dir/data
path.logs: $dir/logs
xpack.security.enabled: false
# Loopback test cluster on a shared machine: no disk-watermark surprises.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
  printf -- '-Xms%s\n-Xmx%s\n' "$heap" "$heap" > "$dir/config/jvm.options.d/heap.options"
  rm -f "$(pid_file "$n")"
  if [[ $(id -u) -eq 0 ]]; then
    id "$es_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$es_user"
    chown -R "$es_user" "$dir"
    chmod 755 "$work"
  fi
  local jh
  jh=$(java_home)
  echo "es-cluster: starting node $n on 127.0.0.1:$(http_port "$n")"
  run_as env ES_JAVA_HOME="$jh" ES_PATH_CONF="$dir/config" \
    "$home/bin/elasticsearch" -d -p "$(pid_file "$n")" > "$dir/logs/stdout.log" 2>&1 \
    || { echo "es-cluster: node $n failed to start; see $dir/logs" >&2; tail -20 "$dir/logs/stdout.log" >&2; exit 1; }
}

wait_for() {
  # wait_for NODE QUERY SECONDS: waits until the health call with QUERY answers without timing out.
  local n=$1 query=$2 limit=$3 t=0 h
  while (( t < limit )); do
    h=$(health "$n" "$query")
    if [[ $h == *'"timed_out":false'* ]]; then
      echo "es-cluster: $h"
      return 0
    fi
    sleep 1
    t=$((t + 1))
  done
  echo "es-cluster: no answer to $query from node $n after ${limit}s; logs in $work/node$n/logs" >&2
  return 1
}

stop_node() {
  local n=$1 f pid t=0
  f=$(pid_file "$n")
  if [[ ! -f $f ]]; then
    return
  fi
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    echo "es-cluster: stopping node $n (pid $pid)"
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null && (( t < 60 )); do
      sleep 1
      t=$((t + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "es-cluster: node $n did not stop in 60 s; killing pid $pid" >&2
      kill -9 "$pid"
    fi
  fi
  rm -f "$f"
}

case ${1:-} in
  start)
    ensure_dist
    mkdir -p "$work"
    start_node 1
    start_node 2
    wait_for 1 '?wait_for_status=green&wait_for_nodes=2&timeout=5s' 180
    ;;
  stop)
    stop_node 2
    stop_node 1
    ;;
  status)
    if alive 1 || alive 2; then
      for n in 1 2; do alive "$n" && echo "node $n: pid $(cat "$(pid_file "$n")")" || echo "node $n: stopped"; done
      h=$(health 1); [[ -n $h ]] || h=$(health 2); echo "${h:-no answer}"
    else
      echo "stopped"
    fi
    ;;
  stop-node)
    stop_node "${2:?node number}"
    ;;
  start-node)
    n=${2:?node number}
    start_node "$n"
    wait_for "$n" '?wait_for_nodes=2&timeout=5s' 180
    ;;
  *)
    echo "usage: $0 start|stop|status|stop-node N|start-node N" >&2
    exit 2
    ;;
esac
