#!/usr/bin/env bash
# The demo command of README.md: serves the page with the default bundle (www/models/default,
# committed) at http://127.0.0.1:8080 as soon as what the page needs is built: the two CPU wasm
# packages (installing the wasm target, wasm-bindgen-cli and wasm-opt where missing) and the
# std-only server `marquee-serve` (the `serve` crate, what `marquee serve` runs). The threaded CPU
# package, the WebGPU one and the explain one are built while the page is already served; until they are there, a
# visitor runs on a single-thread CPU package (the page says why where WebGPU was wanted). Extra arguments go to the server (e.g. --port
# 9000, --bundle runs/fusion/bundle). The full CLI is not needed for this: `cargo build -p trainer`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f www/models/default/manifest.json && " $* " != *" --bundle "* ]]; then
  echo "www/models/default is missing: retrain it with scripts/train-default.sh, or pass --bundle" >&2
  exit 1
fi
bash scripts/build-web.sh cpu-relaxed cpu
echo "building the server (marquee-serve)"
cargo build -q -p serve --bin marquee-serve
"${CARGO_TARGET_DIR:-target}/debug/marquee-serve" "$@" &
server=$!
trap 'kill "$server" 2>/dev/null' EXIT INT TERM
echo "the page is served; building the threaded CPU package beside it"
bash scripts/build-web.sh cpu-threads || echo "warning: the threaded package did not build: the page runs on one thread" >&2
echo "the threaded CPU package is in place; building the WebGPU package beside the page"
bash scripts/build-web.sh webgpu || echo "warning: the WebGPU package did not build: the page runs on the CPU" >&2
echo "the WebGPU package is in place; building the explain package beside the page"
bash scripts/build-web.sh explain || echo "warning: the explain package did not build: the page cannot explain" >&2
echo "the explain package is in place"
wait "$server"
