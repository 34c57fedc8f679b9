#!/usr/bin/env bash
# SD1.5 side by side (issue 3 benchmark), in one go on one machine: Atelier (native UNet from Java)
# against our PyTorch eager implementation of the same LDM architecture (baseline.py, Debian's
# python3-torch 1.13), same thread count, one process per measurement (so peak RSS is its own).
# Prints every raw line, then a table with ratios against the baseline measured in this run.
#
#   benchmarks/sd/compare.sh MODEL.safetensors
#   env: THREADS (2)  SIZES ("256 512")  DTYPES ("fp32 bf16")  STEPS (timed steps, 2)
#        E2E=1 adds the 20-step 512x512 end-to-end proxy (text encode + 20 UNet steps + VAE decode)
#        TRAIN=1 runs batch-1 LoRA training steps (issue 4) instead of UNet steps, at SIZES x DTYPES,
#        rank RANK (4): forward, eps MSE, backward and AdamW, kohya's 192 default UNet targets
#        ENGINES ("atelier torch")  PYTHON (/usr/bin/python3)
#        ATELIER_ARGS: extra SdBenchmark options (e.g. "--unfused" with TRAIN=1)
#        BASELINE_ARGS: extra baseline.py options (the sd15-tiny fixture: "--heads 4 --text-heads 2")
#        LOGS="a.log b.log": run nothing, print the table from the raw lines of earlier runs
# Make the checkpoint first (about 4 GiB, 2 minutes):
#   java -cp "$CP" dev.atelier.benchmarks.sd.RandomCheckpoint /tmp/sd15-random.safetensors --verify
# Needs: native library built (build/native/libatelier.so) and the Java modules compiled
#   (mvn -o -q -pl benchmarks -am compile). Peak RSS of one fp32 512x512 step: ~6-7 GiB each.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:?usage: compare.sh MODEL.safetensors}
threads=${THREADS:-2}
sizes=${SIZES:-256 512}
dtypes=${DTYPES:-fp32 bf16}
steps=${STEPS:-2}
engines=${ENGINES:-atelier torch}
python=${PYTHON:-/usr/bin/python3}
# shellcheck source=../../scripts/java-home.sh
source "$root/scripts/java-home.sh"
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads

# Classpath: this checkout's compiled classes, then the engine's runtime jars (never ~/.m2's atelier jars).
cp_file=$(mktemp)
out=$(mktemp)
trap 'rm -f "$cp_file" "$out"' EXIT
(cd "$root" && mvn -o -q -pl engine dependency:build-classpath -Dmdep.includeScope=runtime \
  -Dmdep.outputFile="$cp_file" >/dev/null 2>&1)
jars=$(tr ':' '\n' <"$cp_file" | grep -v '/dev/atelier/' | paste -sd: -)
cp="$root/benchmarks/target/classes:$root/engine/target/classes:$root/bindings/target/classes:$jars"

if [ -n "${LOGS:-}" ]; then
  # shellcheck disable=SC2086
  cat $LOGS >"$out"
  echo "table from earlier runs: $LOGS (not one run: compare only under the same load)"
  engines=""
  sizes=""
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load at start: $(uptime)"
echo "model: $model ($(du -h "$model" | cut -f1)); threads $threads; timed steps $steps (after one warm-up)"
run_atelier() {
  "$JAVA_HOME/bin/java" -Xmx2g --enable-native-access=ALL-UNNAMED -Datelier.threads="$threads" -cp "$cp" \
    dev.atelier.benchmarks.sd.SdBenchmark "$model" "$@" ${ATELIER_ARGS:-} 2>&1 | grep -v '^\[main\] INFO' | tee -a "$out"
}
run_torch() {
  # shellcheck disable=SC2086
  "$python" "$root/benchmarks/sd/baseline.py" "$model" "$@" --threads "$threads" ${BASELINE_ARGS:-} 2>&1 | tee -a "$out"
}
mode=unet
[ "${TRAIN:-0}" = 1 ] && mode=train
for size in $sizes; do
  for dtype in $dtypes; do
    for engine in $engines; do
      if [ "$mode" = train ]; then
        "run_$engine" train --size "$size" --dtype "$dtype" --steps "$steps" --rank "${RANK:-4}"
      else
        "run_$engine" unet --size "$size" --dtype "$dtype" --steps "$steps"
      fi
    done
  done
done
if [ "${E2E:-0}" = 1 ] && [ -n "$engines" ]; then
  for engine in $engines; do
    "run_$engine" e2e --size 512 --dtype fp32 --steps 20
  done
fi
[ -n "${LOGS:-}" ] || echo "load at end: $(uptime)"

echo
echo "| size | dtype | Atelier s/step | PyTorch s/step | Atelier/PyTorch | target | Atelier peak RSS MiB | PyTorch peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
awk '
  function val(line, key,   i, n, f) { n = split(line, f, " "); for (i = 1; i <= n; i++) if (index(f[i], key "=") == 1) return substr(f[i], length(key) + 2); return "" }
  $1 != "atelier" && $1 != "torch" { next }
  $2 == "unet" { k = val($0, "size") " " val($0, "dtype"); step[$1, k] = val($0, "step_s"); peak[$1, k] = val($0, "peak_rss_mib"); keys[k] = 1 }
  $2 == "load" { loads[++nl] = $1 " " (val($0, "dtype") == "" ? "fp32" : val($0, "dtype")) " " val($0, "mode") " " val($0, "load_s") " " val($0, "rss_mib") " " val($0, "rss_file_mib") " " val($0, "rss_anon_mib") " " val($0, "file_mib") }
  $2 == "mem_after_first_step" { first[$1, val($0, "size") " " val($0, "dtype")] = val($0, "rss_mib") " (file " val($0, "rss_file_mib") ", anon " val($0, "rss_anon_mib") ")" }
  $2 == "e2e" { e2e[++ne] = $0 }
  $2 == "train" { k = val($0, "size") " " val($0, "dtype"); tstep[$1, k] = val($0, "step_s"); tpeak[$1, k] = val($0, "peak_rss_mib"); tkeys[k] = 1; tmods[$1, k] = val($0, "modules") }
  END {
    for (k in keys) {
      split(k, p, " "); a = step["atelier", k]; t = step["torch", k]
      ratio = (a != "" && t != "") ? sprintf("%.2fx", a / t) : "-"
      target = p[2] == "fp32" ? "<= 0.70x" : "-"
      printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], a, t, ratio, target, peak["atelier", k], peak["torch", k]
    }
    print ""
    for (k in keys) {
      split(k, p, " ")
      if (p[2] == "bf16" && step["atelier", p[1] " fp32"] != "" && step["atelier", k] != "")
        printf "Atelier bf16 / Atelier fp32 at %s: %.2fx (target <= 0.60x); PyTorch bf16 / fp32: %s\n", p[1],
          step["atelier", k] / step["atelier", p[1] " fp32"],
          (step["torch", k] != "" && step["torch", p[1] " fp32"] != "") ? sprintf("%.2fx", step["torch", k] / step["torch", p[1] " fp32"]) : "-"
    }
    print ""
    print "| engine | dtype | mode | load s | RSS after load MiB | RssFile | RssAnon | target (file + 10%) |"
    print "|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= nl; i++) { split(loads[i], f, " "); printf "| %s | %s | %s | %s | %s | %s | %s | <= %.0f |\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8] * 1.1 }
    print ""
    for (k in first) { split(k, p, SUBSEP); print "RSS after the first step (all weights touched), " p[1] " " p[2] ": " first[k] " MiB" }
    for (i = 1; i <= ne; i++) print "end-to-end proxy: " e2e[i]
    if (length(tkeys) > 0) {
      print ""
      print "| LoRA training step, batch 1 | dtype | Atelier s/step | PyTorch s/step | Atelier/PyTorch | target | Atelier peak RSS MiB | PyTorch peak RSS MiB | modules |"
      print "|---|---|---|---|---|---|---|---|---|"
      for (k in tkeys) {
        split(k, p, " "); a = tstep["atelier", k]; t = tstep["torch", k]
        printf "| %s | %s | %s | %s | %s | <= 0.80x | %s | %s | %s / %s |\n", p[1], p[2], a, t,
          (a != "" && t != "") ? sprintf("%.2fx", a / t) : "-", tpeak["atelier", k], tpeak["torch", k], tmods["atelier", k], tmods["torch", k]
      }
    }
  }' "$out"
