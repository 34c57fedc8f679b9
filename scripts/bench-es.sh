#!/usr/bin/env bash
# Benchmark: Elasticsearch (2-node loopback cluster; hnsw and int8_hnsw) against
# Atelier's in-process FAISS HNSW on the same synthetic vectors. Starts the cluster when it is
# not running and stops it afterwards in that case. Arguments go to CatalogBackendBenchmark
# ([hosts] [n] [queries]). FAISS searches run with one OpenMP thread each (parallel across
# requests: several threads on one query cost more than they save).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/java-home.sh"
source "$root/benchmarks/classpath.sh"
cd "$root"
bench_classpath "$root"
started=0
if [[ $(scripts/es-cluster.sh status) == stopped ]]; then
  scripts/es-cluster.sh start
  started=1
fi
trap '[[ $started == 1 ]] && scripts/es-cluster.sh stop' EXIT
OMP_NUM_THREADS=1 java --enable-native-access=ALL-UNNAMED -Datelier.root="$root" -Xmx4g \
  -cp "$BENCH_CP" dev.atelier.benchmarks.CatalogBackendBenchmark "$@"
