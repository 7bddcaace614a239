#!/usr/bin/env bash
# Retrains the default bundle from scratch and writes it to www/models/default (int8, thresholds re-tuned on validation for the int8 weights,
# then a lexical branch stacked on it by `marquee stack`):
# all-MiniLM-L6-v2 fine-tuned on the plots (the recipe's 4 epochs, best on validation),
# EfficientNet-Lite0 (frozen backbone, cached features, the design's head), and their fusion (a
# head over both branches' pooled features, dropout 0.5; the GMU and logits heads scored lower on
# validation); then TF-IDF words and word pairs with a logistic regression per genre, blended with
# the fusion's and its branches' logits by a per-genre blend fitted on the validation split
# (cross-fitted over 5 folds; about 1.5 minutes). Runs go to runs/default-*; the commands are the ones RESULTS.md reports. About 2
# hours 20 minutes on 2 CPU cores, most of it the MiniLM fine-tuning (27 min an epoch) and one
# pass of MiniLM over every plot for the fusion (12 min); `--device wgpu` (via MARQUEE_DEVICE) on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${MARQUEE_DATA:-../shared/data/movies}"
device="${MARQUEE_DEVICE:-cpu}"
bash scripts/fetch-pretrained.sh
cargo build -q -p trainer
bin="${CARGO_TARGET_DIR:-target}/debug/marquee"
run() { # run NAME ARGS...: trains runs/default-NAME unless it is finished; resumes a killed run
  local out="runs/default-$1"; shift
  if [[ -f "$out/bundle/manifest.json" ]]; then echo "$out: done already"; return; fi
  if [[ -f "$out/config.json" ]]; then "$bin" train --resume "$out"; else "$bin" train --out "$out" --data "$data" --device "$device" "$@"; fi
}
run bert --model bert
run efficientnet-lite0 --model efficientnet-lite0
run fusion --model fusion --fusion-mode features --dropout 0.5 --text-model runs/default-bert --image-model runs/default-efficientnet-lite0
"$bin" export --run runs/default-fusion --out runs/default-fusion-int8 --int8 --data "$data" --name "MiniLM + EfficientNet-Lite0 fusion (movies)"
"$bin" stack --bundle runs/default-fusion-int8 --data "$data" --out www/models/default --report results/stack.json
"$bin" eval --bundle www/models/default --data "$data" --split test
