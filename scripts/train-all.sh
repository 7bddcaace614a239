#!/usr/bin/env bash
# Trains every model on the real movie set, one after another, into runs/ (logs beside each
# run). The figures in README.md come from these runs' test_metrics.json files.
# Usage: scripts/train-all.sh [MODEL...]   (default: lstm efficientnet-lite0 fusion lstm-glove cnn bert)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${MARQUEE_DATA:-../shared/data/movies}"
# The dev profile builds dependencies with full optimisation (Cargo.toml), so it trains at
# full speed and shares the build that the tests use.
cargo build -q -p trainer
bin="${CARGO_TARGET_DIR:-target}/debug/marquee"
mkdir -p runs
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(lstm efficientnet-lite0 fusion lstm-glove cnn bert)
for model in "${models[@]}"; do
  out="runs/$model"
  if [ -f "$out/bundle/manifest.json" ]; then echo "$model: done already ($out)"; continue; fi
  args=(train --model "$model" --data "$data" --out "$out")
  [ -f "$out/config.json" ] && args=(train --resume "$out")
  if [ "$model" = fusion ] && [ ! -f "$out/config.json" ]; then
    text=runs/bert; [ -f "$text/bundle/manifest.json" ] || text=runs/lstm-glove
    [ -f "$text/bundle/manifest.json" ] || text=runs/lstm
    args+=(--text-model "$text" --image-model runs/efficientnet-lite0)
  fi
  echo "== $model: ${args[*]}"
  /usr/bin/time -f "$model: %e s wall, %M KB peak" "$bin" "${args[@]}" 2>&1 | tee "runs/$model.log"
done
