"""Class maps as pictures: palette colours, colours blended over the image, where two maps disagree."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DISAGREEMENT_RGB = (255, 0, 64)


def colourise(class_map: np.ndarray, palette: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 RGB; indices outside the palette (255 = ignored) are black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: min(len(palette), 256)] = np.asarray(palette[:256], dtype=np.uint8)
    indices = np.asarray(class_map)
    inside = (indices >= 0) & (indices < 256)
    return table[np.where(inside, indices, 255).astype(np.intp)]


def blend(image: np.ndarray, class_map: np.ndarray, palette: Sequence[tuple[int, int, int]],
          opacity: float) -> np.ndarray:
    """The palette colours over the (H, W, 3) uint8 RGB image, as mmseg's test tool draws `--show-dir`:
    image * (1 - opacity) + colour * opacity, truncated to uint8."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    if image.shape[:2] != np.shape(class_map):
        raise ValueError(f"image {image.shape[:2]} and class map {np.shape(class_map)} differ in size")
    mixed = image.astype(np.float64) * (1 - opacity) + colourise(class_map, palette) * opacity
    return mixed.astype(np.uint8)


def disagreement(image: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The image dimmed to grey, with every pixel where class maps `a` and `b` differ in one bright colour."""
    grey = image.astype(np.float64).mean(axis=2, keepdims=True) * 0.5
    out = np.repeat(grey, 3, axis=2).astype(np.uint8)
    out[np.asarray(a) != np.asarray(b)] = DISAGREEMENT_RGB
    return out
