#!/usr/bin/env bash
# The demo command of README.md. The browser page, the wasm build and `marquee serve` are not
# built yet (later issues); until they are, this builds the CLI, fetches the pretrained weights
# and shows what the CLI can do on the real movie set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-pretrained.sh
data="${MARQUEE_DATA:-../shared/data/movies}"
cargo run -q -p marquee -- data stats --data "$data"
echo
echo "The demo page is not built yet: it comes with the web crate and 'marquee serve'."
echo "Train a model meanwhile, e.g.: cargo run -p marquee -- train --model lstm --data $data --out runs/lstm"
