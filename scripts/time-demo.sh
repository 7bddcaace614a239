#!/usr/bin/env bash
# Times the demo command as on a fresh machine with Rust and Node.js: a fresh clone of this
# repository's HEAD in a temporary folder, a fresh cargo home (no crate cache, no
# wasm-bindgen-cli), a fresh npm cache and a fresh target folder. Prints how long until the page
# and the bundle are served, and until the WebGPU package is in place. Run it on a quiet machine.
# Usage: bash scripts/time-demo.sh [PORT]   (it removes its temporary folder at the end)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
port="${1:-18090}"
work="$(mktemp -d)"
trap 'pkill -f "marquee-serve --port $port" 2>/dev/null; rm -rf "$work"' EXIT
git clone -q "$repo" "$work/marquee"
mkdir -p "$work/bin"
for tool in cargo rustc rustup rustdoc; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
export CARGO_HOME="$work/cargo-home" npm_config_cache="$work/npm-cache"
export PATH="$work/bin:$CARGO_HOME/bin:/usr/local/bin:/usr/bin:/bin"
unset CARGO_TARGET_DIR
cd "$work/marquee"
start=$(date +%s)
bash scripts/demo.sh --port "$port" >"$work/demo.log" 2>&1 &
served=""
while true; do
  elapsed=$(($(date +%s) - start))
  if [[ -z "$served" ]] && curl -sf -o /dev/null "http://127.0.0.1:$port/pkg/cpu-relaxed/marquee_web_bg.wasm" \
    && curl -sf -o /dev/null "http://127.0.0.1:$port/models/default/model.safetensors"; then
    served=$elapsed
    echo "page and bundle served after $served s"
  fi
  if grep -q "the WebGPU package is in place" "$work/demo.log"; then
    echo "WebGPU package in place after $elapsed s"
    break
  fi
  if ! pgrep -f "scripts/demo.sh --port $port" >/dev/null; then
    tail -n 30 "$work/demo.log"
    echo "the demo stopped after $elapsed s" >&2
    exit 1
  fi
  sleep 5
done
