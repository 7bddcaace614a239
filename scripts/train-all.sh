#!/usr/bin/env bash
# Trains every model on the real movie set, one after another, into runs/ (logs beside each
# run). The figures in README.md come from these runs' test_metrics.json files.
# Usage: scripts/train-all.sh [MODEL...]   (default: every model of the registry, `marquee models`,
# in its order, fusion last; a model whose pretrained files are not in the cache is skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${MARQUEE_DATA:-../shared/data/movies}"
# The dev profile builds dependencies with full optimisation (Cargo.toml), so it trains at
# full speed and shares the build that the tests use.
cargo build -q -p trainer
bin="${CARGO_TARGET_DIR:-target}/debug/marquee"
mkdir -p runs
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  while IFS=$'\t' read -r name _ ready; do
    if [ "$ready" = ready ]; then models+=("$name"); else echo "$name: skipped, its pretrained files are not in the cache (scripts/fetch-pretrained.sh)"; fi
  done < <("$bin" models --names)
fi
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
