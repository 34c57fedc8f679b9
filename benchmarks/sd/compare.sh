#!/usr/bin/env bash
# SD1.5 side by side (issue 3 benchmark), in one go on one machine: Atelier (native UNet from Java)
# against our PyTorch eager implementation of the same LDM architecture (baseline.py, Debian's
# python3-torch 1.13) and against the same PyTorch networks exported to ONNX (export_onnx.py) and
# run by ONNX Runtime's Java API (OnnxSdBenchmark), same thread count, one process per measurement
# (so peak RSS is its own). Prints every raw line, then tables with ratios against the baselines
# measured in this run.
#
#   benchmarks/sd/compare.sh MODEL.safetensors
#   env: THREADS (2)  SIZES ("256 512")  DTYPES ("fp32 bf16")  STEPS (timed steps, 2)
#        ENGINES ("atelier torch"; add onnx for ONNX Runtime: F32 only, so it skips bf16)
#        VAE=1 adds VAE decodes of one latent at SIZES x DTYPES (STEPS timed decodes)
#        E2E=1 adds the end-to-end proxy (text encode + E2E_STEPS UNet steps + VAE decode) at
#              E2E_SIZE (512), E2E_STEPS (20), fp32
#        TRAIN=1 runs batch-1 LoRA training steps (issue 4) instead of UNet steps, at SIZES x DTYPES,
#        rank RANK (4): forward, eps MSE, backward and AdamW, kohya's 192 default UNet targets
#        (atelier and torch only)
#        PYTHON (/usr/bin/python3)
#        ATELIER_ARGS: extra SdBenchmark options (e.g. "--unfused" with TRAIN=1)
#        BASELINE_ARGS: extra baseline.py options (the sd15-tiny fixture: "--heads 4 --text-heads 2");
#              its --heads N and --text-heads N describe the checkpoint: every engine gets them
#        ONNX_CACHE: the folder of ONNX exports (default MODEL.onnx/ beside MODEL.safetensors);
#              export_onnx.py fills it once per network and size and reuses what matches the model
#        LOGS="a.log b.log": run nothing, print the tables from the raw lines of earlier runs
# Make the checkpoint first (about 4 GiB, 2 minutes):
#   source benchmarks/classpath.sh && bench_classpath "$PWD"   # sets BENCH_CP
#   java -cp "$BENCH_CP" dev.atelier.benchmarks.sd.RandomCheckpoint /tmp/sd15-random.safetensors --verify
# Needs: the native library built (build/native/libatelier.so); the Java side is compiled here
#   (benchmarks/classpath.sh). Peak RSS of one fp32 512x512 step: ~6-7 GiB each; exporting the
#   full-size UNet to ONNX takes more (torch.onnx holds the graph and its weights more than once).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:?usage: compare.sh MODEL.safetensors}
threads=${THREADS:-2}
sizes=${SIZES:-256 512}
dtypes=${DTYPES:-fp32 bf16}
steps=${STEPS:-2}
engines=${ENGINES:-atelier torch}
e2e_size=${E2E_SIZE:-512}
e2e_steps=${E2E_STEPS:-20}
python=${PYTHON:-/usr/bin/python3}
onnx_dir=${ONNX_CACHE:-${model%.safetensors}.onnx}
# The attention head counts are the checkpoint's architecture (not in its tensor shapes): the
# ones given to baseline.py go to every engine and to the ONNX export.
read -r -a baseline_args <<<"${BASELINE_ARGS:-}"
net_args=()
for ((i = 0; i < ${#baseline_args[@]}; i++)); do
  case "${baseline_args[i]}" in
    --heads | --text-heads) net_args+=("${baseline_args[i]}" "${baseline_args[i + 1]:-}"); i=$((i + 1)) ;;
  esac
done
for engine in $engines; do
  case "$engine" in
    atelier | torch | onnx) ;;
    *) echo "compare.sh: unknown engine $engine (atelier, torch, onnx)" >&2; exit 2 ;;
  esac
done
# shellcheck source=../../scripts/java-home.sh
source "$root/scripts/java-home.sh"
# shellcheck source=../classpath.sh
source "$root/benchmarks/classpath.sh"
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc reports OMP_NUM_THREADS when it is set
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads

out=$(mktemp)
trap 'rm -f "$out"' EXIT

mode=unet
[ "${TRAIN:-0}" = 1 ] && mode=train
if [ -n "${LOGS:-}" ]; then
  # shellcheck disable=SC2086
  cat $LOGS >"$out"
  echo "table from earlier runs: $LOGS (not one run: compare only under the same load)"
  engines=""
  sizes=""
else
  [ -f "$model" ] || { echo "compare.sh: $model: no such file" >&2; exit 2; }
  bench_classpath "$root"
fi
echo "machine: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load at start: $(uptime)"
[ -n "${LOGS:-}" ] || echo "model: $model ($(du -h "$model" | cut -f1)); threads $threads; timed steps $steps (after one warm-up; onnx: two)"

java_main() {
  local main=$1
  shift
  "$JAVA_HOME/bin/java" -Xmx2g --enable-native-access=ALL-UNNAMED -Datelier.root="$root" \
    -Datelier.threads="$threads" -cp "$BENCH_CP" "$main" "$@" 2>&1 | grep -v '^\[main\] INFO' | tee -a "$out"
}
run_atelier() {
  # shellcheck disable=SC2086
  java_main dev.atelier.benchmarks.sd.SdBenchmark "$model" "$@" "${net_args[@]}" ${ATELIER_ARGS:-}
}
run_torch() {
  # shellcheck disable=SC2086
  "$python" "$root/benchmarks/sd/baseline.py" "$model" "$@" --threads "$threads" ${BASELINE_ARGS:-} 2>&1 | tee -a "$out"
}
run_onnx() {
  java_main dev.atelier.benchmarks.sd.OnnxSdBenchmark "$onnx_dir" "$@"
}
# which engine runs what: ONNX Runtime has F32 networks and no training step
runs() {  # runs ENGINE MODE DTYPE
  [ "$1" != onnx ] || { [ "$2" != train ] && [ "$3" = fp32 ]; }
}
export_onnx() {  # export_onnx SIZE NETS
  "$python" "$root/benchmarks/sd/export_onnx.py" "$model" "$onnx_dir" --size "$1" --nets "$2" "${net_args[@]}"
}

# ONNX exports first (once; export_onnx.py keeps what matches the model), so no measurement waits on one.
if [[ " $engines " == *" onnx "* ]]; then
  if [[ " $dtypes " == *" fp32 "* ]]; then
    for size in $sizes; do
      nets=""
      if runs onnx "$mode" fp32; then nets=unet; fi
      if [ "${VAE:-0}" = 1 ]; then nets=${nets:+$nets,}vae; fi
      if [ -n "$nets" ]; then export_onnx "$size" "$nets"; fi
    done
  fi
  if [ "${E2E:-0}" = 1 ]; then export_onnx "$e2e_size" unet,vae,text; fi
fi

for size in $sizes; do
  for dtype in $dtypes; do
    for engine in $engines; do
      if ! runs "$engine" "$mode" "$dtype"; then
        echo "$engine: no $mode $dtype measurement (ONNX export is F32 inference)"
      elif [ "$mode" = train ]; then
        "run_$engine" train --size "$size" --dtype "$dtype" --steps "$steps" --rank "${RANK:-4}"
      else
        "run_$engine" unet --size "$size" --dtype "$dtype" --steps "$steps"
      fi
    done
  done
done
if [ "${VAE:-0}" = 1 ]; then
  for size in $sizes; do
    for dtype in $dtypes; do
      for engine in $engines; do
        if runs "$engine" vae "$dtype"; then
          "run_$engine" vae --size "$size" --dtype "$dtype" --steps "$steps"
        fi
      done
    done
  done
fi
if [ "${E2E:-0}" = 1 ] && [ -n "$engines" ]; then
  for engine in $engines; do
    "run_$engine" e2e --size "$e2e_size" --dtype fp32 --steps "$e2e_steps"
  done
fi
[ -n "${LOGS:-}" ] || echo "load at end: $(uptime)"

echo
awk '
  function val(line, key,   i, n, f) { n = split(line, f, " "); for (i = 1; i <= n; i++) if (index(f[i], key "=") == 1) return substr(f[i], length(key) + 2); return "" }
  function show(v) { return v == "" ? "-" : v }
  function ratio(a, b) { return (a != "" && b != "" && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
  # keys "size dtype" in order: size ascending, then fp32 before bf16 (dtype descending)
  function sorted(set, out,   k, n, i, j, t) {
    n = 0
    for (k in set) out[++n] = k
    for (i = 2; i <= n; i++) {
      t = out[i]
      for (j = i - 1; j >= 1 && before(t, out[j]); j--) out[j + 1] = out[j]
      out[j + 1] = t
    }
    return n
  }
  function before(a, b,   pa, pb) { split(a, pa, " "); split(b, pb, " "); return pa[1] + 0 < pb[1] + 0 || (pa[1] + 0 == pb[1] + 0 && pa[2] > pb[2]) }
  $1 != "atelier" && $1 != "torch" && $1 != "onnx" { next }
  $2 == "unet" { k = val($0, "size") " " val($0, "dtype"); step[$1, k] = val($0, "step_s"); peak[$1, k] = val($0, "peak_rss_mib"); keys[k] = 1 }
  $2 == "vae" { k = val($0, "size") " " val($0, "dtype"); dec[$1, k] = val($0, "decode_s"); vpeak[$1, k] = val($0, "peak_rss_mib"); vkeys[k] = 1 }
  $2 == "load" { loads[++nl] = $1 " " (val($0, "dtype") == "" ? "fp32" : val($0, "dtype")) " " val($0, "mode") " " val($0, "load_s") " " val($0, "rss_mib") " " val($0, "rss_file_mib") " " val($0, "rss_anon_mib") " " val($0, "file_mib") }
  $2 == "mem_after_first_step" { first[$1, val($0, "size") " " val($0, "dtype")] = val($0, "rss_mib") " (file " val($0, "rss_file_mib") ", anon " val($0, "rss_anon_mib") ")" }
  $2 == "e2e" { e2e[++ne] = $0; k = val($0, "size") " " val($0, "steps"); etot[$1, k] = val($0, "total_s"); ekeys[k] = 1 }
  $2 == "train" { k = val($0, "size") " " val($0, "dtype"); tstep[$1, k] = val($0, "step_s"); tpeak[$1, k] = val($0, "peak_rss_mib"); tkeys[k] = 1; tmods[$1, k] = val($0, "modules") }
  END {
    print "| size | dtype | Atelier s/step | PyTorch s/step | ONNX Runtime s/step | Atelier/PyTorch | Atelier/ONNX Runtime | target | Atelier peak RSS MiB | PyTorch peak RSS MiB | ONNX Runtime peak RSS MiB |"
    print "|---|---|---|---|---|---|---|---|---|---|---|"
    n = sorted(keys, order)
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, " "); a = step["atelier", k]; t = step["torch", k]; o = step["onnx", k]
      target = p[2] == "fp32" ? "<= 0.70x" : "-"
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], show(a), show(t), show(o), ratio(a, t), ratio(a, o),
        target, show(peak["atelier", k]), show(peak["torch", k]), show(peak["onnx", k])
    }
    print ""
    nb = 0
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, " ")
      if (p[2] == "bf16" && step["atelier", p[1] " fp32"] != "" && step["atelier", k] != "") {
        printf "Atelier bf16 / Atelier fp32 at %s: %.2fx (target <= 0.60x); PyTorch bf16 / fp32: %s\n", p[1],
          step["atelier", k] / step["atelier", p[1] " fp32"], ratio(step["torch", k], step["torch", p[1] " fp32"])
        nb++
      }
    }
    if (nb > 0) print ""
    nv = sorted(vkeys, vorder)
    if (nv > 0) {
      print "| VAE decode, batch 1 | dtype | Atelier s | PyTorch s | ONNX Runtime s | Atelier/PyTorch | Atelier/ONNX Runtime | Atelier peak RSS MiB | PyTorch peak RSS MiB | ONNX Runtime peak RSS MiB |"
      print "|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= nv; i++) {
        k = vorder[i]; split(k, p, " "); a = dec["atelier", k]; t = dec["torch", k]; o = dec["onnx", k]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], show(a), show(t), show(o), ratio(a, t), ratio(a, o),
          show(vpeak["atelier", k]), show(vpeak["torch", k]), show(vpeak["onnx", k])
      }
      print ""
    }
    print "| engine | dtype | mode | load s | RSS after load MiB | RssFile | RssAnon | target (file + 10%) |"
    print "|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= nl; i++) { split(loads[i], f, " "); printf "| %s | %s | %s | %s | %s | %s | %s | <= %.0f |\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8] * 1.1 }
    print ""
    for (k in first) { split(k, p, SUBSEP); print "RSS after the first step (all weights touched), " p[1] " " p[2] ": " first[k] " MiB" }
    for (i = 1; i <= ne; i++) print "end-to-end proxy: " e2e[i]
    ne2 = sorted(ekeys, eorder)
    if (ne2 > 0) {
      print ""
      print "| end-to-end proxy, fp32, size | steps | Atelier total s | PyTorch total s | ONNX Runtime total s | Atelier/PyTorch | Atelier/ONNX Runtime |"
      print "|---|---|---|---|---|---|---|"
      for (i = 1; i <= ne2; i++) {
        k = eorder[i]; split(k, p, " "); a = etot["atelier", k]; t = etot["torch", k]; o = etot["onnx", k]
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], show(a), show(t), show(o), ratio(a, t), ratio(a, o)
      }
    }
    if (length(tkeys) > 0) {
      print ""
      print "| LoRA training step, batch 1 | dtype | Atelier s/step | PyTorch s/step | Atelier/PyTorch | target | Atelier peak RSS MiB | PyTorch peak RSS MiB | modules |"
      print "|---|---|---|---|---|---|---|---|---|"
      nt = sorted(tkeys, torder)
      for (i = 1; i <= nt; i++) {
        k = torder[i]; split(k, p, " "); a = tstep["atelier", k]; t = tstep["torch", k]
        printf "| %s | %s | %s | %s | %s | <= 0.80x | %s | %s | %s / %s |\n", p[1], p[2], show(a), show(t),
          ratio(a, t), show(tpeak["atelier", k]), show(tpeak["torch", k]), tmods["atelier", k], tmods["torch", k]
      }
    }
  }' "$out"
