#!/usr/bin/env bash
# Builds the browser package into www/pkg/: the `web` crate for wasm32 (release, SIMD128),
# wasm-bindgen's JavaScript glue, then wasm-opt. Installs what it lacks: the rustup target,
# wasm-bindgen-cli at the crate's exact wasm-bindgen version, and binaryen's wasm-opt from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
bindgen_version=0.2.130 # = the `wasm-bindgen` pin in web/Cargo.toml

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
  echo "installing wasm-bindgen-cli $bindgen_version (cargo install, a few minutes once)"
  # --locked can name a dependency version the registry mirror lacks; then resolve afresh.
  cargo install -q wasm-bindgen-cli --version "$bindgen_version" --locked \
    || cargo install -q wasm-bindgen-cli --version "$bindgen_version"
fi
if [[ ! -x node_modules/.bin/wasm-opt || ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund --silent
fi

echo "building the web crate for wasm32 (release; the first build takes about 15 minutes on 2 cores)"
cargo build -q --release --target wasm32-unknown-unknown -p marquee-web
rm -rf www/pkg.partial
wasm-bindgen --target web --no-typescript --out-dir www/pkg.partial \
  "$target_dir/wasm32-unknown-unknown/release/marquee_web.wasm"
raw=$(stat -c %s www/pkg.partial/marquee_web_bg.wasm)
# wasm-opt takes minutes on this module: its output is kept beside the build, under the input's
# checksum, so an unchanged build is not optimised twice.
sum=$(sha256sum www/pkg.partial/marquee_web_bg.wasm | cut -c1-16)
optimised_cache="$target_dir/wasm-opt/$sum.wasm"
if [[ ! -f "$optimised_cache" ]]; then
  echo "optimising with wasm-opt (binaryen $(node_modules/.bin/wasm-opt --version | grep -o '[0-9]\+' | head -1); minutes)"
  mkdir -p "$target_dir/wasm-opt"
  node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    www/pkg.partial/marquee_web_bg.wasm -o "$optimised_cache.partial"
  mv "$optimised_cache.partial" "$optimised_cache"
fi
cp "$optimised_cache" www/pkg.partial/marquee_web_bg.wasm
rm -rf www/pkg && mv www/pkg.partial www/pkg
optimised=$(stat -c %s www/pkg/marquee_web_bg.wasm)
gzipped=$(gzip -9 -c www/pkg/marquee_web_bg.wasm | wc -c)
echo "www/pkg/marquee_web_bg.wasm: $(awk "BEGIN{printf \"%.2f\", $optimised/1e6}") MB after wasm-opt ($(awk "BEGIN{printf \"%.2f\", $raw/1e6}") MB before; $(awk "BEGIN{printf \"%.2f\", $gzipped/1e6}") MB gzipped)"
