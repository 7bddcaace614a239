#!/usr/bin/env bash
# Makes sure OpenBLAS is installed: the CLI's CPU matrix products run on its sgemm (feature
# `openblas` of kernels, on by default in the CLI; the browser package never uses it).
# Installs Debian's libopenblas-dev when it is missing and apt-get can run; else says what to do.
set -euo pipefail
found() {
  compgen -G "/usr/lib/*-linux-gnu/libopenblas.a" >/dev/null || compgen -G "/usr/lib/*-linux-gnu/libopenblas.so" >/dev/null \
    || [[ -n "${OPENBLAS_LIB_DIR:-}" && -d "${OPENBLAS_LIB_DIR}" ]] || compgen -G "/usr/local/lib/libopenblas.*" >/dev/null \
    || compgen -G "/opt/homebrew/opt/openblas/lib/libopenblas.*" >/dev/null
}
found && exit 0
if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
  echo "installing OpenBLAS (apt-get install libopenblas-dev)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q libopenblas-dev >/dev/null
  found && exit 0
fi
cat >&2 <<'MSG'
OpenBLAS is missing. Install it (Debian/Ubuntu: sudo apt-get install libopenblas-dev; macOS:
brew install openblas), or point OPENBLAS_LIB_DIR at the folder holding libopenblas, or build
the CLI without it: cargo build -p trainer --no-default-features --features wgpu
MSG
exit 1
