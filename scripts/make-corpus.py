"""Writes the bad-input corpus of tests/corpus/: images/ (malformed, extreme and unusual posters)
and weights/ (`.pth` pickles that would run a command if unpickled naively). Committed;
tests/tests/bad_inputs.rs says what each must give. Needs Pillow and NumPy.

    python scripts/make-corpus.py [--poster PATH]   # PATH: a real poster JPEG to cut short
"""
import argparse
import io
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "corpus", "images")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(side, rows=64):
    """A PNG that claims side x side pixels (side*side*3 bytes decoded) in a few hundred bytes:
    its first rows of black pixels, deflated; a decoder that trusts the header allocates it all."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    row = b"\0" + b"\0" * (side * 3)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


class RunsCode:
    """Unpickling this runs a shell command: what a hostile `.pth` does to `torch.load`."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/marquee-pickle-ran",))


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def encoded(image, fmt, **kw):
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--poster", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "movies", "posters", "tt0004972.jpg"))
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (48, 32, 3), dtype=np.uint8))
    with open(args.poster, "rb") as f:
        poster = f.read()
    save("real-poster.jpg", poster)
    save("truncated.jpg", poster[: len(poster) // 2])
    save("corrupt.jpg", poster[:200] + bytes(rng.integers(0, 255, 2000, dtype=np.uint8)))
    save("truncated.png", encoded(photo, "PNG")[:300])
    save("truncated.webp", encoded(photo, "WEBP")[:200])
    save("empty.jpg", b"")
    save("text.jpg", b"this is not an image, whatever its name says\n")
    save("one-pixel.png", encoded(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"))
    save("wide-10000x10.png", encoded(Image.new("RGB", (10000, 10), (30, 200, 30)), "PNG"))
    save("cmyk.jpg", encoded(photo.convert("CMYK"), "JPEG", quality=90))
    gray16 = Image.fromarray((np.arange(48 * 32, dtype=np.uint16).reshape(48, 32) * 40).astype(np.uint16))
    save("gray-16bit.png", encoded(gray16, "PNG"))
    save("rgba.webp", encoded(photo.convert("RGBA"), "WEBP"))
    save("bomb-20000x20000.png", bomb_png(20000))
    save("bomb-11000x11000.png", bomb_png(11000))

    weights = os.path.join(OUT, "..", "weights")
    os.makedirs(weights, exist_ok=True)
    payload = pickle.dumps({"conv_stem.weight": RunsCode()}, protocol=2)
    with open(os.path.join(weights, "runs-code-legacy.pth"), "wb") as f:
        f.write(payload)
    with zipfile.ZipFile(os.path.join(weights, "runs-code-zip.pth"), "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")


if __name__ == "__main__":
    main()
