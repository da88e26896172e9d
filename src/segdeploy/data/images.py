"""Reading images and index labels from disk, and writing label / colourised PNGs atomically.

EXIF orientation is deliberately NOT applied: Cityscapes and VOC masks are stored in the image
file's raw pixel orientation, so the label aligns with the raw pixels. Rotating the image by its
EXIF tag (as photo viewers do) would misalign it with its mask.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from segdeploy.errors import SegdeployError
from segdeploy.reporting.atomic import write_atomic

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
_LABEL_MODES = ("P", "L", "1")


def _open_loaded(path: Path, data: bytes | None = None) -> Image.Image:
    """Open and fully decode `path` (or its already read bytes `data`); `load()` is what detects
    truncated or corrupt pixel data."""
    try:
        img = Image.open(path if data is None else io.BytesIO(data))
        img.load()
    except FileNotFoundError:
        raise SegdeployError.at(path, "no such file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise SegdeployError.at(path, f"cannot decode image ({err})") from None
    return img


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) from the file's header alone: post-processing needs the geometry, not the pixels."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
    except FileNotFoundError:
        raise SegdeployError.at(path, "no such file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise SegdeployError.at(path, f"cannot read image header ({err})") from None
    return height, width


def read_rgb(path: str | Path, data: bytes | None = None) -> np.ndarray:
    """Decode any common image to an (H, W, 3) uint8 RGB array, in the file's raw orientation.

    Grayscale, palette, CMYK and alpha images become RGB (alpha is dropped, not composited);
    16-bit images are scaled to 8 bits. `data`: the file's bytes, already read (errors still name
    `path`), so reading and decoding can be timed and overlapped separately.
    """
    path = Path(path)
    img = _open_loaded(path, data)
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "F":
        gray = np.asarray(img, dtype=np.float64)
        # Pillow's own convert() clips 16-bit values at 255 instead of scaling them.
        scale = 255.0 / 65535.0 if img.mode != "F" else 1.0
        gray8 = np.clip(np.rint(gray * scale), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray8[:, :, None], 3, axis=2))
    if img.mode in ("P", "PA"):
        # Through RGBA so a palette with transparency converts without Pillow's warning.
        img = img.convert("RGBA")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_label(path: str | Path) -> np.ndarray:
    """Read a class-index mask as (H, W) uint8: the stored indices, never the palette colours."""
    path = Path(path)
    img = _open_loaded(path)
    if img.mode in _LABEL_MODES:
        return np.asarray(img, dtype=np.uint8).copy()
    if img.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(img)
        if values.size and int(values.max()) > 255:
            raise SegdeployError.at(path, f"label value {int(values.max())} does not fit 0..255 "
                                          f"(a {img.mode} image: is this an instanceIds file?)")
        return values.astype(np.uint8)
    raise SegdeployError.at(path, f"label is a colour image (mode {img.mode}); expected a single-channel "
                                  "palette (P) or grayscale (L) PNG of class indices")


def _as_uint8_map(class_map: np.ndarray, path: Path) -> np.ndarray:
    class_map = np.asarray(class_map)
    if class_map.ndim != 2:
        raise SegdeployError.at(path, f"a class map must be 2-D (H, W), got shape {class_map.shape}")
    if class_map.size and (int(class_map.min()) < 0 or int(class_map.max()) > 255):
        raise SegdeployError.at(path, f"class values {int(class_map.min())}..{int(class_map.max())} "
                                      "do not fit an 8-bit PNG")
    return np.ascontiguousarray(class_map, dtype=np.uint8)


def save_image_png(path: str | Path, img: Image.Image, compress_level: int = 6) -> Path:
    """Write a Pillow image as PNG atomically (tmp file + rename)."""
    return write_atomic(path, lambda f: img.save(f, format="PNG", compress_level=compress_level))


def save_label_png(path: str | Path, class_map: np.ndarray, compress_level: int = 6) -> Path:
    """Write (H, W) class indices as a grayscale 'L' PNG."""
    path = Path(path)
    img = Image.fromarray(_as_uint8_map(class_map, path), mode="L")
    return save_image_png(path, img, compress_level)


def save_palette_png(path: str | Path, class_map: np.ndarray,
                     palette: Sequence[tuple[int, int, int]], compress_level: int = 6) -> Path:
    """Write (H, W) class indices as a palette 'P' PNG: indices stay readable, colours show classes.

    Palette entries past `len(palette)` (e.g. 255 = ignore) are black.
    """
    path = Path(path)
    img = Image.fromarray(_as_uint8_map(class_map, path), mode="P")
    flat = [c for rgb in palette[:256] for c in rgb]
    img.putpalette(flat + [0] * (768 - len(flat)))
    return save_image_png(path, img, compress_level)
