#!/usr/bin/env bash
# The GPU check of Marquee's native speed work, for a lent GPU machine (the `device` tool: no Rust
# toolchain there, no network, at most 64 MiB of working tree + carried files, 15 minutes).
#
#   bash scripts/gpu-check.sh prepare   # here: builds a small CLI (release, wgpu + cuda, stripped)
#                                       # into .gpu/, fetches the Vulkan loader packages into .gl/,
#                                       # and checks that the tree plus both fit in 64 MiB
#   run: command "bash scripts/gpu-check.sh run", carry [".gpu", ".gl"], timeout_s 540
#
# `run` unpacks the loaders, then measures with `marquee bench` on the GPU through wgpu (Vulkan)
# and CUDA, and on the machine's CPU cores, each row's latency at batch 1, throughput at batch 32
# and one training step at batch 32 (forward, BCE, backward, AdamW: MiniLM's is a short MiniLM
# training on the GPU), and prints one table (also written to $OUT/gpu-check.md, with the JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
# A subset of the registry chosen for the 15-minute budget (each device's bench has 170 s);
# MODELS="$(marquee models --names | cut -f1 | paste -sd,)" measures every registry model.
models="${MODELS:-bert,efficientnet-lite0,lstm-glove,fusion}"

case "$mode" in
prepare)
  mkdir -p .git/info
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >>.git/info/exclude
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >>.git/info/exclude
  echo "building the CLI for the GPU machine (release, wgpu + cuda, no OpenBLAS: its CPU rows use burn's gemm)"
  cargo build --release -p trainer --no-default-features --features wgpu,cuda
  mkdir -p .gpu
  cp "${CARGO_TARGET_DIR:-target}/release/marquee" .gpu/marquee
  xz -9 -T0 -f .gpu/marquee
  if ! compgen -G ".gl/*.deb" >/dev/null; then
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update -q >/dev/null
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
  fi
  tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  extra=$(du -cb .gpu .gl | tail -1 | cut -f1)
  total=$((tree + extra))
  echo "working tree $((tree / 1048576)) MiB + .gpu and .gl $((extra / 1048576)) MiB = $((total / 1048576)) MiB (limit 64)"
  if ((total > 64 * 1048576)); then
    echo "too large to travel: the tracked files (the default bundle above all) leave too little of the 64 MiB for the CLI; drop the cuda feature or shrink the bundle" >&2
    exit 1
  fi
  ;;
run)
  out="${OUT:-/tmp/gpu-check}"
  mkdir -p "$out"
  for f in .gl/*.deb; do
    [[ -e "$f" ]] && dpkg -x "$f" /
  done
  ldconfig
  if ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
  xz -dkf .gpu/marquee.xz
  chmod +x .gpu/marquee
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt" || true
  for device in wgpu cuda cpu; do
    echo "== marquee bench --device $device"
    timeout 170 .gpu/marquee bench --device "$device" --models "$models" --repeats 5 \
      --json "$out/bench-$device.json" 2>&1 | tail -n 12 || echo "(bench on $device failed or timed out)"
  done
  python3 - "$out" <<'PY' | tee "$out/gpu-check.md"
import json, os, sys
out = sys.argv[1]
print("| device | model | latency b1 (ms) | throughput b32 (movies/s) | train step b32 (s) | peak RSS (MB) |")
print("|---|---|---:|---:|---:|---:|")
for device in ("wgpu", "cuda", "cpu"):
    path = os.path.join(out, f"bench-{device}.json")
    if not os.path.exists(path):
        print(f"| {device} | (not measured) | | | | |")
        continue
    for row in json.load(open(path))["rows"]:
        step = "-" if row.get("train_step_s") is None else f"{row['train_step_s']:.3f}"
        print(f"| {device} | {row['model']} | {row['latency_ms']:.1f} | {row['throughput']:.1f} | {step} | {row['peak_mb']:.0f} |")
PY
  ;;
*)
  echo "usage: bash scripts/gpu-check.sh prepare|run" >&2
  exit 2
  ;;
esac
