#!/usr/bin/env bash
# Installs what the tests need beside Rust, each only where it is missing: Mesa's Vulkan driver
# (llvmpipe runs the wgpu tests on the CPU), OpenBLAS (the CLI's matrix products), Python's venv
# (the weights' download), Chromium and Node.js (the browser tests) and the Node.js packages of package-lock.json (Playwright's driver,
# wasm-opt, the benchmark's onnxruntime-web). apt-get needs root; elsewhere it says what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q "$@" >/dev/null
  else
    echo "setup: missing $*: install them (Debian/Ubuntu: sudo apt-get install $*)" >&2
    exit 1
  fi
}

echo "== Vulkan driver (Mesa's llvmpipe, for the wgpu tests)"
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || apt_install mesa-vulkan-drivers libvulkan1

echo "== OpenBLAS (the CLI's CPU matrix products)"
bash scripts/ensure-openblas.sh

echo "== Python with venv (scripts/fetch-pretrained.sh downloads the weights with pip)"
command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3 python3-venv

echo "== Chromium (headless, WebGPU on SwiftShader) and Node.js"
# Only what is missing: a machine whose Node.js comes with its own npm (NodeSource's) refuses
# Debian's npm package beside it.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
npm ci --no-audit --no-fund --silent
