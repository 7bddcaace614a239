#!/usr/bin/env bash
# The test command of README.md: every unit, integration and end-to-end test of the workspace.
# Tests that need the real movie set find it at ../shared/data/movies (or $MARQUEE_DATA); tests
# that need pretrained weights find them in the cache that scripts/fetch-pretrained.sh fills.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace "$@"
