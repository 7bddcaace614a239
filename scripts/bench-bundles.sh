#!/usr/bin/env bash
# Compares bundles in the browser: serves each in turn and runs www/bench.html on the CPU package
# the browser picks (one thread), beside onnxruntime-web where www/bench-peer/ exists, PASSES
# times, alternating, so that each bundle meets the same machine. Prints each run's tables.
# Usage: bash scripts/bench-bundles.sh BUNDLE... (e.g. an older default from git and
# www/models/default); MARQUEE_PASSES (default 2), MARQUEE_RUNS (classifications a visit, 20).
# Needs what scripts/bench-browser.sh needs (www/pkg, Chromium, npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || { echo "usage: $0 BUNDLE..." >&2; exit 2; }
cargo build -q -p trainer
bin="${CARGO_TARGET_DIR:-target}/debug/marquee"
chromium="${MARQUEE_CHROMIUM:-/usr/bin/chromium}"
peer=false
[[ -f www/bench-peer/fusion.onnx ]] && peer=true
for pass in $(seq "${MARQUEE_PASSES:-2}"); do
  for bundle in "$@"; do
    log=$(mktemp)
    "$bin" serve --port 0 --bundle "$bundle" 2>"$log" &
    server=$!
    for _ in $(seq 100); do grep -q '^open ' "$log" && break; sleep 0.1; done
    url=$(sed -n 's/^open \([^ ]*\).*/\1/p' "$log")
    [[ -n "$url" ]] || { cat "$log" >&2; kill $server; exit 1; }
    echo "## $bundle, pass $pass"
    node tests/browser/bench.mjs "$(printf '{"baseUrl":"%s","chromium":"%s","backends":["cpu"],"runs":%s,"peer":%s}' "$url" "$chromium" "${MARQUEE_RUNS:-20}" "$peer")"
    kill $server; wait $server 2>/dev/null || true
    rm -f "$log"
  done
done
