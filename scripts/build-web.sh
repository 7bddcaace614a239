#!/usr/bin/env bash
# Builds the browser packages into www/pkg/: the `web` crate for wasm32 (release, SIMD128) five
# times,
#   www/pkg/cpu-threads/  the cpu-relaxed package below with its kernels' work split over web
#                         workers (feature `threads`, wasm-bindgen-rayon): what a visitor gets on
#                         a cross-origin-isolated page (`marquee serve` sends COOP/COEP); wasm
#                         atomics need the standard library rebuilt with them, so it is built with
#                         the nightly toolchain's build-std (rust-src) in a target folder of its own;
#   www/pkg/cpu-relaxed/  burn's CPU backend only (no wgpu/cubecl, no training code), its matrix
#                         products with relaxed SIMD's fused multiply-add (feature
#                         `relaxed-simd`): what a visitor without WebGPU downloads where the
#                         browser has relaxed SIMD (Chrome, Edge 114+);
#   www/pkg/cpu/          the same with plain SIMD128, for the other browsers;
#   www/pkg/webgpu/       WebGPU and the CPU (feature `webgpu`), fetched only where the browser
#                         offers a WebGPU adapter;
#   www/pkg/explain/      the cpu-relaxed package with explanations (feature `explain`: burn's
#                         autodiff, for the gradients), fetched only on a page's first `explain`
#                         call;
# then wasm-bindgen's glue and wasm-opt for each, and www/pkg/marquee.js (web/js/marquee.js), the
# entry point that picks the package. The single-thread CPU packages are built first: they are
# what the page needs to classify (the second one only recompiles Marquee's own crates); where the
# threaded one is missing, marquee.js falls back to them. The explain package comes last: nothing
# but an `explain` call needs it. Installs what it lacks: the rustup target, wasm-bindgen-cli at
# the crate's exact wasm-bindgen version, and binaryen's wasm-opt from npm.
# Usage: bash scripts/build-web.sh [cpu|cpu-relaxed|cpu-threads|webgpu|explain]... (default: all five).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
bindgen_version=0.2.130 # = the `wasm-bindgen` pin in web/Cargo.toml
packages=("$@")
((${#packages[@]})) || packages=(cpu-relaxed cpu cpu-threads webgpu explain)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
  # Without --locked: its lock file names dependency versions that registry mirrors can lack (the
  # install then fails before it starts); the version itself is pinned.
  echo "installing wasm-bindgen-cli $bindgen_version (cargo install, about 4 minutes once)"
  cargo install -q wasm-bindgen-cli --version "$bindgen_version"
fi
if [[ ! -x node_modules/.bin/wasm-opt || ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund --silent
fi

# The linker flags of a module whose threads share its memory: imported shared memory of up to
# 2 GiB, and the thread-local storage hooks wasm-bindgen's thread start calls.
threads_link_args=""
for flag in --shared-memory --import-memory --max-memory=2147483648 --export=__wasm_init_tls \
  --export=__tls_size --export=__tls_align --export=__tls_base; do
  threads_link_args+=" -C link-arg=$flag"
done

megabytes() { awk "BEGIN{printf \"%.2f\", $1/1e6}"; }

# build_package NAME FEATURES WASM_OPT_LEVEL [WASM_OPT_FLAG]
build_package() {
  local name=$1 features=$2 level=$3 extra=${4:-}
  echo "building the $name package (wasm32, release${features:+, features $features})"
  local built="$target_dir"
  if [[ $features == *threads* ]]; then
    # Wasm atomics: the standard library rebuilt with them (nightly's build-std), shared memory
    # of up to 2 GiB; the flags differ from the other packages', hence a target folder of its own.
    built="$target_dir/threads"
    rustup component list --toolchain nightly --installed | grep -q '^rust-src' \
      || rustup component add rust-src --toolchain nightly
    # Unstripped, so wasm-bindgen reads the module's target features and writes the threads' glue
    # (shared memory); wasm-opt strips it afterwards.
    CARGO_TARGET_DIR="$built" CARGO_PROFILE_RELEASE_STRIP=false \
      RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals $threads_link_args" \
      cargo +nightly build -q --release --target wasm32-unknown-unknown -p web --features "$features" \
      -Z build-std=panic_abort,std
  else
    cargo build -q --release --target wasm32-unknown-unknown -p web ${features:+--features "$features"}
  fi
  local out="www/pkg.partial/$name"
  rm -rf "$out"
  mkdir -p "$out"
  wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name marquee_web \
    "$built/wasm32-unknown-unknown/release/web.wasm"
  local raw sum cached
  raw=$(stat -c %s "$out/marquee_web_bg.wasm")
  # wasm-opt takes minutes on the WebGPU package: its output is kept beside the build, under the
  # input's checksum and the level, so an unchanged build is not optimised twice.
  sum=$(sha256sum "$out/marquee_web_bg.wasm" | cut -c1-16)
  cached="$target_dir/wasm-opt/$sum$level${extra// /}.wasm"
  if [[ ! -f "$cached" ]]; then
    echo "optimising the $name package with wasm-opt $level"
    mkdir -p "$target_dir/wasm-opt"
    node_modules/.bin/wasm-opt "$level" --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue $extra \
      "$out/marquee_web_bg.wasm" -o "$cached.partial"
    mv "$cached.partial" "$cached"
  fi
  cp "$cached" "$out/marquee_web_bg.wasm"
  local optimised gzipped
  optimised=$(stat -c %s "$out/marquee_web_bg.wasm")
  gzipped=$(gzip -9 -c "$out/marquee_web_bg.wasm" | wc -c)
  echo "www/pkg/$name/marquee_web_bg.wasm: $(megabytes "$optimised") MB after wasm-opt ($(megabytes "$raw") MB before; $(megabytes "$gzipped") MB gzipped)"
}

# Packages not rebuilt now are kept from the last build.
rm -rf www/pkg.partial
if [[ -d www/pkg ]]; then cp -r www/pkg www/pkg.partial; else mkdir -p www/pkg.partial; fi
for package in "${packages[@]}"; do
  case "$package" in
    # The CPU package's speed is its compute loops: fully optimised.
    cpu) build_package cpu "" -O3 ;;
    cpu-relaxed) build_package cpu-relaxed relaxed-simd -O3 --enable-relaxed-simd ;;
    cpu-threads) build_package cpu-threads threads -O3 "--enable-relaxed-simd --enable-threads --strip-debug --strip-producers --strip-target-features" ;;
    # The WebGPU package is mostly cubecl's kernel generators, run once per kernel shape: -O2
    # optimises it in a fraction of -O3's time (minutes on 2 cores).
    webgpu) build_package webgpu webgpu -O2 ;;
    # Explanations run the CPU package's loops, forward and backward: optimised like it.
    explain) build_package explain explain -O3 --enable-relaxed-simd ;;
    *) echo "unknown package $package: use cpu, cpu-relaxed, cpu-threads, webgpu or explain" >&2; exit 2 ;;
  esac
done
cp web/js/marquee.js www/pkg.partial/marquee.js
rm -f www/pkg.partial/marquee_web.js www/pkg.partial/marquee_web_bg.wasm # the single package of old
rm -rf www/pkg && mv www/pkg.partial www/pkg
