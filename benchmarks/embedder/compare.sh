#!/usr/bin/env bash
# MobileNetV3-Large images per second, side by side in one run: Atelier's libtorch backend
# (native embedder) and Atelier's ONNX export on ONNX Runtime against torchvision in PyTorch eager
# (Debian python3-torch), batch 1 on one thread and batch 32 on two threads, then the ratios
# onnx / torch and libtorch / torch. Random-weight fixture: same architecture
# and cost as the trained network. The two alternate for ROUNDS rounds and the best round of
# each counts: on a shared machine the load of other processes swings from run to run.
#   benchmarks/embedder/compare.sh [SECONDS per setting] [ROUNDS]   (defaults 5 and 3)
# Needs: the native library built (build/native/libatelier.so), /usr/bin/python3 with torch and
# torchvision; the Java side is compiled here (benchmarks/classpath.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-5}
rounds=${2:-3}
# shellcheck source=../../scripts/java-home.sh
source "$root/scripts/java-home.sh"
# shellcheck source=../classpath.sh
source "$root/benchmarks/classpath.sh"
# The fixtures: $ATELIER_FIXTURES, else the first shared/fixtures above the repository (as the tests find them).
fixtures=${ATELIER_FIXTURES:-}
dir=$root
while [ -z "$fixtures" ] && [ "$dir" != / ]; do
  [ -d "$dir/shared/fixtures" ] && fixtures=$dir/shared/fixtures
  dir=$(dirname "$dir")
done
[ -n "$fixtures" ] || { echo "compare.sh: shared/fixtures not found above $root; set ATELIER_FIXTURES" >&2; exit 2; }
fixture=$fixtures/sd15-tiny/mobilenet_v3_large
python=${PYTHON:-/usr/bin/python3}
bench_classpath "$root"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  echo "round $round"
  java --enable-native-access=ALL-UNNAMED -Datelier.root="$root" -cp "$BENCH_CP" \
    dev.atelier.benchmarks.TorchEmbedderThroughput \
    "$fixture/mobilenet_v3_large.safetensors" "$seconds" | grep '^libtorch ' | tee -a "$out"
  java --enable-native-access=ALL-UNNAMED -cp "$BENCH_CP" dev.atelier.benchmarks.OnnxEmbedderThroughput \
    "$fixture/mobilenet_v3_large.safetensors" "$seconds" | tee -a "$out"
  "$python" "$root/benchmarks/embedder/torchvision_eager.py" "$fixture/mobilenet_v3_large.pth" "$seconds" | tee -a "$out"
done
for b in 1 32; do
  onnx=$(sed -n "s/^onnx batch=$b .*images_per_s=\([0-9.]*\).*/\1/p" "$out" | sort -g | tail -1)
  torch=$(sed -n "s/^torch batch=$b .*images_per_s=\([0-9.]*\).*/\1/p" "$out" | sort -g | tail -1)
  native=$(sed -n "s/^libtorch batch=$b .*images_per_s=\([0-9.]*\).*/\1/p" "$out" | sort -g | tail -1)
  awk -v b="$b" -v o="$onnx" -v t="$torch" -v n="$native" \
    'BEGIN { printf "best of rounds, batch %s: onnx %.1f images/s, libtorch %.1f images/s, torch eager %.1f images/s; onnx / eager %.2fx (target >= 1.5x), libtorch / eager %.2fx\n", b, o, n, t, o / t, n / t }'
done
