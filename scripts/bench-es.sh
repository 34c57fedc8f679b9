#!/usr/bin/env bash
# Issue 7 benchmark: Elasticsearch (2-node loopback cluster; hnsw and int8_hnsw) against
# Atelier's in-process FAISS HNSW on the same synthetic vectors. Starts the cluster when it is
# not running and stops it afterwards in that case. Arguments go to CatalogBackendBenchmark
# ([hosts] [n] [queries]). FAISS searches run with one OpenMP thread each (parallel across
# requests: see the shared performance notes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/java-home.sh"
cd "$root"
mvn -B -q -o -pl benchmarks -am package -DskipTests
started=0
if [[ $(scripts/es-cluster.sh status) == stopped ]]; then
  scripts/es-cluster.sh start
  started=1
fi
trap '[[ $started == 1 ]] && scripts/es-cluster.sh stop' EXIT
OMP_NUM_THREADS=1 java --enable-native-access=ALL-UNNAMED -Datelier.root="$root" -Xmx4g \
  -cp benchmarks/target/benchmarks.jar dev.atelier.benchmarks.CatalogBackendBenchmark "$@"
