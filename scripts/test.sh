#!/usr/bin/env bash
# The test command of README.md: builds the browser package (the browser tests load it), then
# runs every unit, integration, end-to-end and browser test of the workspace. Tests that need
# the real movie set find it at ../shared/data/movies (or $MARQUEE_DATA); tests that need
# pretrained weights find them in the cache that scripts/fetch-pretrained.sh fills; the browser
# tests need Chromium (/usr/bin/chromium) and Node.js (.ci/run installs both); the CLI needs OpenBLAS
# (scripts/ensure-openblas.sh installs it where apt-get can).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-web.sh
bash scripts/ensure-openblas.sh
cargo test --workspace "$@"
