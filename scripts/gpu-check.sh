#!/usr/bin/env bash
# The whole GPU check in one call, for a machine with a CUDA GPU, CMake, a C++ compiler, the CUDA
# toolkit and a Python PyTorch with CUDA, but no JVM and no network:
#   scripts/gpu-check.sh OUTDIR
# 1. builds libatelier, its tests and the benchmark driver with every core (libtorch from the
#    Python installation, FAISS where CMake finds it);
# 2. runs the GPU-labelled native tests (ctest -L gpu: every network and sampler on cuda:0 against
#    the CPU, F32/F16/BF16) on the sd15-tiny fixture ($ATL_FIXTURES, else shared/fixtures in or
#    beside the checkout);
# 3. runs native/bench/bench_gpu on full-size SD1.5 with random weights.
# Everything lands in OUTDIR: build.log, tests.log, results.md, environment.txt. Exits non-zero when
# the build or a test fails (the benchmark still runs after a test failure, to measure what works).
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=${ATL_GPU_BUILD:-$root/build-gpu}
jobs=$(nproc)
start=$(date +%s)
: > "$out/summary.txt"
say() { echo "[gpu-check $(( $(date +%s) - start ))s] $*" | tee -a "$out/summary.txt"; }

{
  date -u
  nvidia-smi 2>&1 || echo "nvidia-smi: not found"
  nvcc --version 2>&1 | tail -2
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpus', torch.cuda.device_count())" 2>&1
  cmake --version | head -1
  g++ --version | head -1
} > "$out/environment.txt"

# A pip torch built with the old C++ ABI cannot link with C++ libraries built with the new one
# (a system FAISS): leave FAISS out then (the GPU index needs it; everything else does not).
faiss=()
if [ "$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null)" = 0 ]; then
  faiss=(-DATL_FAISS=OFF)
  say "pip torch uses the pre-C++11 ABI: building without FAISS"
fi
generator=()
# Ninja for a fresh build folder (an existing one keeps the generator it was made with).
[ ! -f "$build/CMakeCache.txt" ] && command -v ninja > /dev/null && generator=(-G Ninja)
say "configure and build ($jobs jobs) in $build"
if ! { cmake -S "$root" -B "$build" "${generator[@]}" "${faiss[@]}" -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_CUDA_ARCHITECTURES="${ATL_CUDA_ARCHS:-90}" &&
       cmake --build "$build" -j "$jobs" &&
       cmake --build "$build" -j "$jobs" --target bench_gpu; } > "$out/build.log" 2>&1; then
  say "BUILD FAILED (tail of build.log follows)"
  tail -40 "$out/build.log" | tee -a "$out/summary.txt"
  exit 1
fi
say "built: $(grep -m3 'atelier:' "$out/build.log" | tr '\n' ' ')"

if [ -z "${ATL_FIXTURES:-}" ]; then
  for candidate in "$root/shared/fixtures" "$root/../shared/fixtures"; do
    if [ -d "$candidate/sd15-tiny" ]; then export ATL_FIXTURES=$candidate; break; fi
  done
fi
say "tests (ctest -L gpu), fixtures ${ATL_FIXTURES:-not found}"
(cd "$build" && ctest -L gpu -V --timeout 600) > "$out/tests.log" 2>&1
tests=$?
grep -E "max.diff|device:|tests passed|tests failed|CHECK failed" "$out/tests.log" | sed 's/^[0-9]*: //' >> "$out/summary.txt"
say "tests exit $tests"

say "benchmark"
"$build/native/bench_gpu" "$root/benchmarks/gpu/sd15_layout.tsv" "$out/results.md" \
  --size "${ATL_BENCH_SIZE:-512}" --steps "${ATL_BENCH_STEPS:-20}" > "$out/bench.log" 2>&1
bench=$?
say "benchmark exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
