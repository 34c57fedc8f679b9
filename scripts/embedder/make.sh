#!/usr/bin/env bash
# Rebuilds the embedded default's image embedder (models/default/embedder/) from nothing but this
# repository: garments drawn by `atelier synth training-set` (training and validation sets from
# their own seeds, apart from the demo's wardrobes and catalog), weights from train.py. Needs a
# built Atelier (scripts/setup.sh) and Debian's python3-torch, python3-torchvision, python3-pil.
# Every setting that shaped the committed weights is here or in train.py's defaults; the
# committed training-log.json records them and the run time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${DATA:-$root/work/embedder-data}
[ -f "$data/train/metadata.jsonl" ] || "$root/atelier" synth training-set --out "$data/train" --count 16000 --size 128 --seed 101
[ -f "$data/val/metadata.jsonl" ] || "$root/atelier" synth training-set --out "$data/val" --count 1000 --size 128 --seed 102
cd "$root/scripts/embedder"
OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 train.py --data "$data/train" --val "$data/val" \
    --out "$root/models/default/embedder" "$@"
