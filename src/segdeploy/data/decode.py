"""The fastest decoder for each common image format, giving exactly the pixels Pillow gives.

`benchmarks/bench_decode.py` measures Pillow, OpenCV, pyspng, imagecodecs and simplejpeg on this
machine (benchmarks/results/decode.json): libspng (pyspng) decodes 2048x1024 RGB PNGs fastest
(1.3-1.9x Pillow) and grey label PNGs about as fast as the fastest; for VOC-sized JPEGs OpenCV,
imagecodecs and simplejpeg are within 10 % of each other (about 2x Pillow), and OpenCV, already
needed for mmcv's resize, decodes them. All give Pillow's pixels (the same inflated bytes; the same
libjpeg-turbo integer IDCT and fancy upsampling). pyspng holds the GIL while it decodes, which the
pipeline measures when it chooses threads or processes for loading (`segdeploy.inference.workers`).

Everything else — palette, alpha or 16-bit PNGs, CMYK or grey JPEGs, a JPEG missing its end
marker, anything a fast decoder refuses — goes to Pillow (`images.read_rgb`, `images.read_label`),
which also words the one-line error for a broken file. EXIF orientation is not applied (see
`segdeploy.data.images`): OpenCV is told to ignore it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pyspng

from segdeploy.data.files import read_bytes
from segdeploy.data.images import read_label, read_rgb

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GREY, _PNG_RGB = 0, 2  # IHDR colour types
_JPEG_FRAMES = (0xC0, 0xC1, 0xC2)  # baseline, extended and progressive Huffman: what both libraries share
_CV2_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


def decode_rgb(path: str | Path, data: bytes) -> np.ndarray:
    """An image file's bytes -> (H, W, 3) uint8 RGB, as `images.read_rgb` decodes it, only faster."""
    if _png_kind(data) == (8, _PNG_RGB):
        try:
            return pyspng.load(data, format="RGB")
        except Exception:  # pyspng's own error types; Pillow words the error (or decodes what libspng refused)
            return read_rgb(path, data)
    if _jpeg_components(data) == 3 and data.endswith(b"\xff\xd9"):  # truncated files: Pillow raises
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _CV2_FLAGS)
        if bgr is not None:
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return read_rgb(path, data)


def load_label(path: str | Path) -> np.ndarray:
    """A class-index PNG -> (H, W) uint8, as `images.read_label` reads it: 8-bit grey PNGs (Cityscapes'
    trainIds) through libspng, the rest (VOC's palette PNGs) through Pillow."""
    path = Path(path)
    data = read_bytes(path)
    if _png_kind(data) == (8, _PNG_GREY):
        try:
            return pyspng.load(data, format="L")
        except Exception:  # as in decode_rgb: Pillow has the last word
            pass
    return read_label(path)


def _png_kind(data: bytes) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, None for anything else."""
    if len(data) < 29 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    return data[24], data[25]


def _jpeg_components(data: bytes) -> int | None:
    """The component count of an 8-bit JPEG frame of a kind both decoders share, found by walking the
    marker segments up to the frame header; None for anything else."""
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _JPEG_FRAMES:
            precision, components = data[at + 4], data[at + 9] if at + 9 < len(data) else None
            return components if precision == 8 else None
        if marker == 0xDA or (0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xCC)):  # a scan first, or another frame
            return None
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return None
