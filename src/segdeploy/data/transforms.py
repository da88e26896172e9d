"""Preprocessing: normalisation, bilinear resize, the FCN seed's letterbox, mmcv's keep-ratio size.

Images are resized by OpenCV itself: `mmcv.imresize` (mmseg's Resize) and the Ascend seeds call
`cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)`, whose uint8 path rounds fixed-point
weights; a float imitation differs from it by 1 on about 12 % of values. `resize_bilinear` keeps
the float arithmetic for what is not an image (the seed's class-index map, synthetic noise):
half-pixel centres, edge pixels replicated, no anti-aliasing when shrinking (Pillow's BILINEAR
widens its kernel when downscaling, which matches neither).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from segdeploy.models.spec import Preprocess


def normalize(image: np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> C-contiguous float32 (3, H, W) of (x - mean) / std (0..255 units).

    Channels come out in RGB order, or BGR when the spec says so (caffe-converted weights).
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    mean = np.asarray(preprocess.mean, dtype=np.float32)
    std = np.asarray(preprocess.std, dtype=np.float32)
    hwc = (image.astype(np.float32) - mean) / std
    chw = hwc.transpose(2, 0, 1)  # (3, H, W)
    return np.ascontiguousarray(chw[::-1] if preprocess.bgr else chw)


def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (i0, i1) and weight of i1 for each output position along one axis."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.maximum(x, 0.0)  # OpenCV clamps positions left of the first pixel centre
    i0 = np.minimum(np.floor(x).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (x - i0).astype(np.float32)


def resize_bilinear(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an (H, W) or (H, W, C) array to `size` = (h, w); returns float32."""
    h, w = size
    src = array.astype(np.float32)
    r0, r1, fy = _taps(src.shape[0], h)
    c0, c1, fx = _taps(src.shape[1], w)
    extra = (1,) * (src.ndim - 2)  # broadcast the weights over a channel axis, if any
    # a + (b - a) * f is exact where neighbours are equal, so truncating a resized class map
    # only changes pixels on class borders (as the seed's results show), not whole rows.
    top = src[r0]
    rows = top + (src[r1] - top) * fy.reshape((h, 1) + extra)  # (h, W[, C])
    left = rows[:, c0]
    return left + (rows[:, c1] - left) * fx.reshape((1, w) + extra)  # (h, w[, C])


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a uint8 (H, W[, C]) image to `size` = (h, w), exactly as `mmcv.imresize`."""
    if image.shape[:2] == tuple(size):
        return image.copy()
    resized = cv2.resize(image, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
    return resized if resized.ndim == image.ndim else resized[:, :, None]  # OpenCV drops a 1-channel axis


@dataclass(frozen=True)
class Letterbox:
    """Where an image went inside the square canvas: enough to map a prediction back."""

    image_hw: tuple[int, int]  # original (H, W)
    resized_hw: tuple[int, int]  # (H, W) after the keep-ratio resize
    canvas: int  # side of the square network input
    pad_top: int
    pad_left: int


def letterbox_box(image_hw: tuple[int, int], canvas: int = 500) -> Letterbox:
    """Where an image of `image_hw` lands in the FCN seed's square canvas (see `letterbox`)."""
    h, w = image_hw
    scale = min(canvas / w, canvas / h)
    new_h, new_w = int(h * scale), int(w * scale)
    return Letterbox((h, w), (new_h, new_w), canvas, (canvas - new_h) // 2, (canvas - new_w) // 2)


def letterbox(image: np.ndarray, preprocess: Preprocess, canvas: int = 500) -> tuple[np.ndarray, Letterbox]:
    """The FCN seed's input: keep-ratio resize to fit `canvas`, normalise, then zero-pad centred.

    New size = floor(w * s) x floor(h * s) with s = min(canvas / w, canvas / h). The pad is added
    after normalisation, so it is 0 in normalised space (not the mean colour). With an odd pad
    the extra row/column goes to the bottom/right. Returns float32 (3, canvas, canvas).
    """
    box = letterbox_box(image.shape[:2], canvas)
    (new_h, new_w), top, left = box.resized_hw, box.pad_top, box.pad_left
    chw = normalize(resize_image(image, (new_h, new_w)), preprocess)  # (3, new_h, new_w)
    out = np.zeros((3, canvas, canvas), dtype=np.float32)
    out[:, top:top + new_h, left:left + new_w] = chw
    return out, box


def keep_ratio_size(image_hw: tuple[int, int], scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv's `imrescale` size: fit the long and short sides into `scale` = (long, short), round half up."""
    h, w = image_hw
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


def unletterbox_class_map(class_map: np.ndarray, box: Letterbox) -> np.ndarray:
    """Map a (canvas, canvas) class map back to the original size, exactly as the seed does.

    The seed crops int(pad / 2) from BOTH sides of each axis, so with an odd pad one padded
    row/column stays in; it then resizes the class indices bilinearly as float and truncates,
    which can create in-between class ids along borders. Faithful on purpose: it reproduces the
    seed's published numbers. Returns (H, W) int64.
    """
    crop_y = int((box.canvas - box.resized_hw[0]) / 2)
    crop_x = int((box.canvas - box.resized_hw[1]) / 2)
    kept = class_map[crop_y:box.canvas - crop_y, crop_x:box.canvas - crop_x]
    return resize_bilinear(kept, box.image_hw).astype(np.int64)
