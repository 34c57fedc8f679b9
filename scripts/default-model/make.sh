#!/usr/bin/env bash
# Rebuilds Atelier's embedded default model (models/default/) from nothing but this repository:
# the garments come from `atelier synth training-set`, the vocabulary and all weights from
# train.py. Needs a built Atelier (scripts/setup.sh) and Debian's python3-torch, python3-numpy,
# python3-pil. About 35 minutes on 2 cores. Every setting that shaped the committed model is
# here or in train.py's defaults; the committed training-log.json records them too.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${DATA:-$root/work/default-model-data}
[ -f "$data/metadata.jsonl" ] || "$root/atelier" synth training-set --out "$data" --count 20000 --size 64 --seed 1
cd "$root/scripts/default-model"
fixtures=${FIXTURES:-$root/../shared/fixtures/sd15-tiny}
if [ -d "$fixtures" ]; then /usr/bin/python3 check_parity.py "$fixtures"; else echo "no fixtures at $fixtures: ldm.py parity not checked" >&2; fi
OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 train.py --data "$data" --out "$root/models/default" \
    --work "$root/work/default-model-work" "$@"
