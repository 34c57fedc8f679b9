#!/usr/bin/env bash
# Hostile inputs through the command line, one per class: each should end in exit code 2 with
# one clear line, in bounded time and memory. Prints a Markdown table: input, command, exit code,
# wall seconds, peak RSS (MiB, the JVM included), and the first line of stderr.
#   benchmarks/hostile/run.sh [WORKDIR] [FIXTURES]
# Inputs are made by make_inputs.py. FIXTURES (default: ../shared/fixtures/sd15-tiny beside the
# repository) gives the small SD1.5-architecture model the generation cases run (its YAML and
# tokenizer also serve the hostile checkpoints) and the MobileNetV3-Large of the image and list
# file cases.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d)}
fixtures=${2:-$root/../shared/fixtures/sd15-tiny}
model=$fixtures/model
mnv3=$fixtures/mobilenet_v3_large/mobilenet_v3_large.safetensors
[ -f "$model/model.safetensors" ] && [ -f "$mnv3" ] || { echo "no fixtures in $fixtures" >&2; exit 1; }
in="$work/inputs"
python3 "$root/benchmarks/hostile/make_inputs.py" "$in" || { echo "make_inputs.py failed" >&2; exit 1; }
mkdir -p "$work/loras" "$work/out"
: > "$work/a-file"
# generate on a model given by the first arguments, with the fixture's YAML and tokenizer.
gen=(generate --config "$model/model.yaml" --tokenizer "$model/tokenizer" --threads 1)
small=(--prompt "a denim jacket" --steps 2 --width 64 --height 64)

echo "| input | command | exit | s | peak RSS MiB | message |"
echo "|---|---|---:|---:|---:|---|"
run() { # NAME ARGS...
  local name=$1; shift
  local err="$work/$name.err"
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$root/atelier" "$@" > /dev/null 2> "$err"
  local code=$?
  read -r secs kib < <(tail -1 "$work/$name.time")
  local msg
  msg=$(grep -v '^\[' "$err" | grep -v WARNING | head -1 | cut -c1-160 | sed 's/|/\\|/g')
  printf '| %s | `atelier %s` | %d | %.1f | %d | %s |\n' "$name" "$1" "$code" "$secs" $((kib / 1024)) "$msg"
}
# What every command costs before it reads an input: the JVM, the command line, the native library.
run baseline info
run laughs.ckpt "${gen[@]}" --model "$in/laughs.ckpt" "${small[@]}" --out "$work/out/1"
run self-reference.ckpt "${gen[@]}" --model "$in/self-reference.ckpt" "${small[@]}" --out "$work/out/2"
run deep.ckpt "${gen[@]}" --model "$in/deep.ckpt" "${small[@]}" --out "$work/out/3"
run lying-zip.ckpt "${gen[@]}" --model "$in/lying-zip.ckpt" "${small[@]}" --out "$work/out/4"
run huge-tensor.safetensors "${gen[@]}" --model "$in/huge-tensor.safetensors" "${small[@]}" --out "$work/out/5"
run truncated.safetensors "${gen[@]}" --model "$in/truncated.safetensors" "${small[@]}" --out "$work/out/6"
run laughs.yaml generate --config "$in/laughs.yaml" --tokenizer "$model/tokenizer" --model "$model/model.safetensors" \
  "${small[@]}" --out "$work/out/7"
run nan-lora "${gen[@]}" --model "$model/model.safetensors" --lora "$in/nan-lora.safetensors" "${small[@]}" --out "$work/out/8"
run lora-tag-escape "${gen[@]}" --model "$model/model.safetensors" --lora-dir "$work/loras" --steps 2 --width 64 --height 64 \
  --prompt "a coat <lora:../../../../etc/passwd:1>" --out "$work/out/9"
run 65536x65536 "${gen[@]}" --model "$model/model.safetensors" --prompt "a coat" --steps 2 --width 65536 --height 65536 \
  --out "$work/out/10"
run batch-overflow "${gen[@]}" --model "$model/model.safetensors" "${small[@]}" --batch-size 2000000 --batch-count 2000000 \
  --out "$work/out/11"
run out-is-a-file "${gen[@]}" --model "$model/model.safetensors" "${small[@]}" --out "$work/a-file"
run png-bomb embed --model "$mnv3" --images "$in/bomb-images" --out "$work/out/e.safetensors"
run list-escape index build --model "$mnv3" --catalog "$in/inshop-escape" --layout inshop --index "$work/out/i1"
run list-not-utf8 index build --model "$mnv3" --catalog "$in/inshop-latin1" --layout inshop --index "$work/out/i2"
