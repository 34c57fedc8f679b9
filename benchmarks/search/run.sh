#!/usr/bin/env bash
# Search benchmark: FAISS flat, HNSW32 (efConstruction 200), IVF-Flat and IVF-PQ through
# Atelier's VectorIndex beside Lucene's HNSW, on N clustered unit 128-d vectors and 1,000 held-out
# queries (SearchBenchmark's Javadoc has the details). Appends the table to OUT.
#   benchmarks/search/run.sh [N] [OUT] [extra SearchBenchmark options...]
#   defaults: N=800000, OUT=benchmarks/search/results-$(date +%F).md
# Needs: build/native/libatelier.so (cmake); the Java side is compiled here (benchmarks/classpath.sh).
# Run on a quiet machine: the timings follow the load.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-800000}
out=${2:-$root/benchmarks/search/results-$(date +%F).md}
shift $(( $# > 2 ? 2 : $# ))
# shellcheck source=../../scripts/java-home.sh
source "$root/scripts/java-home.sh"
# shellcheck source=../classpath.sh
source "$root/benchmarks/classpath.sh"
# ATELIER_NATIVE: another libatelier.so to load (else build/native/libatelier.so, as the engine finds it).
lib=${ATELIER_NATIVE:-$root/build/native/libatelier.so}
[ -f "$lib" ] || { echo "run.sh: $lib missing; build it with cmake (see BRIEF/README)" >&2; exit 2; }
bench_classpath "$root"

{
  echo
  echo "## Search run $(date -u +%FT%TZ) on $(hostname)"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), uptime: $(uptime)"
  # Debian's FAISS 1.7.3 is a generic build: batched exact search is one sgemm, so which BLAS
  # answers at run time decides flat throughput (OpenBLAS vs the reference libblas).
  echo "- libatelier: $lib"
  echo "- BLAS of libatelier: $(ldd "$lib" | grep -Ei 'blas|lapack' | awk '{print $1 " -> " $3}' | tr '\n' ' ')"
  echo "- libblas.so.3 alternative: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
  echo "- OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset} OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
} >> "$out"

heap=$(( n / 200000 + 2 ))  # GiB: vectors on the Java heap and Lucene's indexing buffer
# jdk.incubator.vector: Lucene's SIMD distance functions (it falls back to scalar code without it).
java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xmx${heap}g -Datelier.native.path="$lib" \
  -cp "${EXTRA_CP:+$EXTRA_CP:}$BENCH_CP" dev.atelier.benchmarks.search.SearchBenchmark --n "$n" --out "$out" "$@" 2>&1 \
  | grep --line-buffered -v "WARNING: Using incubator modules"
echo "appended to $out"
