#!/usr/bin/env bash
# The test command of README.md, whole on a fresh machine with Rust: installs what the tests need
# (scripts/setup.sh: Vulkan driver, OpenBLAS, Chromium, Node.js packages), builds the browser
# packages (the browser tests load them) and the workspace, fetches the pretrained weights the
# model registry lists (scripts/fetch-pretrained.sh, sha256-checked, cached under
# ~/.cache/marquee), then runs every unit, integration, end-to-end and browser test. Tests that
# need the real movie set find it at ../shared/data/movies (or $MARQUEE_DATA). Arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-web.sh
echo "== building the workspace's tests"
cargo test --workspace --no-run -q
echo "== pretrained weights (the registry's, cached)"
MARQUEE_BIN="${CARGO_TARGET_DIR:-target}/debug/marquee" bash scripts/fetch-pretrained.sh
echo "== tests"
cargo test --workspace "$@"
