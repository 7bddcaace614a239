#!/usr/bin/env bash
# The browser benchmark: serves the page with the default bundle and runs www/bench.html in
# headless Chromium on the CPU fallback and on WebGPU (SwiftShader here; a real GPU where the
# browser has one), then prints Markdown tables (with the targets) and writes
# results/browser-bench.json. Beside Marquee's CPU package it runs the same fused model in
# onnxruntime-web (npm, a dev dependency), the engine under transformers.js, single-threaded, from
# ONNX files that bench/export_onnx.py makes with PyTorch: set MARQUEE_TORCH_PYTHON to a Python with
# torch, transformers, onnx and onnxruntime (they are made once into www/bench-peer/, not committed).
# Usage: bash scripts/bench-browser.sh [RUNS] (steady-state classifications per CPU run, default 20;
# 3 on WebGPU, which is SwiftShader's slow emulation where no GPU exists). Runs the CPU package
# the browser check picks (relaxed SIMD in Chromium), the plain SIMD128 one, then WebGPU.
# Needs www/pkg (scripts/build-web.sh), Chromium at /usr/bin/chromium (or $MARQUEE_CHROMIUM), npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
for package in cpu cpu-relaxed webgpu; do
  [[ -f www/pkg/$package/marquee_web_bg.wasm ]] || { bash scripts/build-web.sh; break; }
done
[[ -d node_modules/playwright-core && -d node_modules/onnxruntime-web ]] || npm ci --no-audit --no-fund
peer=false
if [[ ! -f www/bench-peer/fusion.onnx && -n "${MARQUEE_TORCH_PYTHON:-}" ]]; then
  "$MARQUEE_TORCH_PYTHON" bench/export_onnx.py --out www/bench-peer
fi
if [[ -f www/bench-peer/fusion.onnx ]]; then
  mkdir -p www/bench-peer/ort
  for file in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
    cp node_modules/onnxruntime-web/dist/$file www/bench-peer/ort/
  done
  peer=true
else
  echo "no www/bench-peer/fusion.onnx: the onnxruntime-web peer is left out (set MARQUEE_TORCH_PYTHON)" >&2
fi
cargo build -q -p trainer
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
node tests/browser/bench.mjs "$(printf '{"baseUrl":"%s","chromium":"%s","backends":["cpu","cpu@cpu-relaxed","cpu@cpu","webgpu"],"runs":%s,"webgpuRuns":3,"peer":%s,"out":"results/browser-bench.json"}' "$url" "$chromium" "$runs" "$peer")"
