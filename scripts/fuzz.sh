#!/usr/bin/env bash
# Runs every fuzz target of fuzz/fuzz_targets/ (cargo fuzz, libFuzzer, the nightly toolchain;
# installs cargo-fuzz where missing) for SECONDS each (default 20) from its committed seeds,
# fuzz/seeds/TARGET (the poster target: tests/corpus/images, the bad-input corpus). New inputs go
# to a temporary folder, not the repository. A crash, a hang over 10 s or 2 GB of memory fails
# the run and leaves the input in fuzz/artifacts/TARGET/: fix it, then add it to
# fuzz/seeds/TARGET as a regression case. Prints each target's executions.
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz --locked
# The nightly, instrumented build has a target folder of its own, beside the main one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
cd fuzz
echo "== building the fuzz targets (nightly, coverage-instrumented)"
cargo +nightly fuzz build -s none
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo +nightly fuzz list)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
total=0
for target in "${targets[@]}"; do
  seeds="seeds/$target"
  [ "$target" = poster ] && seeds="../tests/corpus/images"
  mkdir -p "$work/$target"
  if ! cargo +nightly fuzz run -s none "$target" "$work/$target" "$seeds" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$work/$target.log" 2>&1; then
    tail -n 40 "$work/$target.log"
    echo "fuzz target $target failed: its input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$work/$target.log")
  total=$((total + ${runs:-0}))
  echo "$target: ${runs:-?} executions in ${seconds} s, no crash"
done
echo "fuzzing: $total executions over ${#targets[@]} targets, no crash"
