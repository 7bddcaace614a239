#!/usr/bin/env bash
# The demo command of README.md: builds the CLI and the browser package (installing the wasm
# tools it lacks), then serves the page with the default bundle (www/models/default, committed)
# at http://127.0.0.1:8080 through `marquee serve`. Extra arguments go to `marquee serve`
# (e.g. --port 9000, --bundle runs/fusion/bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-web.sh
bash scripts/ensure-openblas.sh
echo "building the marquee CLI"
cargo build -q -p trainer
if [[ ! -f www/models/default/manifest.json && " $* " != *" --bundle "* ]]; then
  echo "www/models/default is missing: retrain it with scripts/train-default.sh, or pass --bundle" >&2
  exit 1
fi
exec "${CARGO_TARGET_DIR:-target}/debug/marquee" serve "$@"
