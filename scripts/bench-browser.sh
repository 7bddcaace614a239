#!/usr/bin/env bash
# The browser benchmark: serves the page with the default bundle and runs www/bench.html in
# headless Chromium on the CPU fallback and on WebGPU (SwiftShader here; a real GPU where the
# browser has one), then prints a Markdown table and writes results/browser-bench.json.
# Usage: bash scripts/bench-browser.sh [RUNS] (steady-state classifications per backend, default 10).
# Needs www/pkg (scripts/build-web.sh), Chromium at /usr/bin/chromium (or $MARQUEE_CHROMIUM), npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
[[ -f www/pkg/marquee_web_bg.wasm ]] || bash scripts/build-web.sh
[[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund
cargo build -q -p marquee
bin="${CARGO_TARGET_DIR:-target}/debug/marquee"
log=$(mktemp)
"$bin" serve --port 0 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q '^open ' "$log" && break; sleep 0.1; done
url=$(sed -n 's/^open \([^ ]*\).*/\1/p' "$log")
[[ -n "$url" ]] || { cat "$log" >&2; exit 1; }
chromium="${MARQUEE_CHROMIUM:-/usr/bin/chromium}"
mkdir -p results
node tests/browser/bench.mjs "$(printf '{"baseUrl":"%s","chromium":"%s","backends":["cpu","webgpu"],"runs":%s,"out":"results/browser-bench.json"}' "$url" "$chromium" "$runs")"
