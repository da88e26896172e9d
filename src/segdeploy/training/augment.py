"""Training augmentation in mmsegmentation 0.x's order: resize, crop, flip, photometric, normalise, pad.

Every function draws from the `np.random.Generator` it is given, so a sample's augmentation is a
pure function of that generator's seed (see `TrainDataset`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from segdeploy.data.cityscapes import IGNORE_INDEX
from segdeploy.data.transforms import keep_ratio_size, normalize, resize_image
from segdeploy.models.spec import Preprocess, TrainRecipe

_CROP_TRIES = 10  # mmseg's RandomCrop re-draws at most this many times for cat_max_ratio


def augment(image: np.ndarray, label: np.ndarray, recipe: TrainRecipe, preprocess: Preprocess,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB + (H, W) uint8 label -> (3, h, w) float32 normalised + (h, w) int64 label."""
    if recipe.crop is not None:
        ratio = rng.uniform(*recipe.ratio_range)
        image, label = random_resize(image, label, recipe.scale, ratio)
        image, label = random_crop(image, label, recipe.crop, recipe.cat_max_ratio, rng)
    if rng.random() < recipe.flip:
        image, label = image[:, ::-1], label[:, ::-1]
    if recipe.photometric:
        image = photometric_distortion(image, rng)
    tensor = normalize(np.ascontiguousarray(image), preprocess)  # (3, h, w)
    label = np.ascontiguousarray(label).astype(np.int64)
    if recipe.crop is not None:
        tensor, label = pad_to(tensor, label, recipe.crop)
    return tensor, label


def random_resize(image: np.ndarray, label: np.ndarray, scale: tuple[int, int] | None,
                  ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep-ratio rescale to fit (long, short) = `scale` * `ratio`, or the image's own size * `ratio`."""
    h, w = label.shape
    if scale is None:
        size = (max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5)))  # rounded half up, as mmcv
    else:
        size = keep_ratio_size((h, w), (int(scale[0] * ratio), int(scale[1] * ratio)))
    return resize_image(image, size), _resize_nearest(label, size)


def _resize_nearest(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """OpenCV INTER_NEAREST: output pixel i takes source pixel floor(i * in / out)."""
    rows = np.minimum((np.arange(size[0]) * (label.shape[0] / size[0])).astype(np.int64), label.shape[0] - 1)
    cols = np.minimum((np.arange(size[1]) * (label.shape[1] / size[1])).astype(np.int64), label.shape[1] - 1)
    return label[rows[:, None], cols[None, :]]


def random_crop(image: np.ndarray, label: np.ndarray, crop: tuple[int, int], cat_max_ratio: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random window of at most `crop` = (H, W); with cat_max_ratio < 1 it is re-drawn while one
    class covers too much of it (or it holds a single class), as mmseg's RandomCrop does."""
    y, x = _crop_origin(label.shape, crop, rng)
    if cat_max_ratio < 1.0:
        for _ in range(_CROP_TRIES):
            values, counts = np.unique(label[y:y + crop[0], x:x + crop[1]], return_counts=True)
            counts = counts[values != IGNORE_INDEX]
            if len(counts) > 1 and counts.max() / counts.sum() < cat_max_ratio:
                break
            y, x = _crop_origin(label.shape, crop, rng)
    return image[y:y + crop[0], x:x + crop[1]], label[y:y + crop[0], x:x + crop[1]]


def _crop_origin(hw: tuple[int, int], crop: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    # mmseg's offsets: uniform over 0..margin inclusive, margin 0 when the image is smaller than the crop
    y = int(rng.integers(0, max(hw[0] - crop[0], 0) + 1))
    return y, int(rng.integers(0, max(hw[1] - crop[1], 0) + 1))


def photometric_distortion(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """mmseg's PhotoMetricDistortion: each step applied with probability 1/2, contrast either
    second or last: brightness ±32, contrast x0.5-1.5, saturation x0.5-1.5, hue ±18 of 180 degrees.

    Saturation and hue go through Pillow's HSV (hue on 0..255), not OpenCV's (hue on 0..179).
    """
    if rng.integers(2):
        image = _convert(image, beta=rng.uniform(-32, 32))
    contrast_first = bool(rng.integers(2))
    if contrast_first and rng.integers(2):
        image = _convert(image, alpha=rng.uniform(0.5, 1.5))
    if rng.integers(2):
        hsv = np.array(Image.fromarray(np.ascontiguousarray(image)).convert("HSV"))
        hsv[..., 1] = _convert(hsv[..., 1], alpha=rng.uniform(0.5, 1.5))
        image = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))
    if rng.integers(2):
        hsv = np.array(Image.fromarray(np.ascontiguousarray(image)).convert("HSV"))
        shift = int(rng.integers(-18, 18)) * 256 / 180  # degrees/2 (OpenCV) -> Pillow's 0..255 circle
        hsv[..., 0] = ((hsv[..., 0].astype(np.float32) + shift) % 256).astype(np.uint8)
        image = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))
    if not contrast_first and rng.integers(2):
        image = _convert(image, alpha=rng.uniform(0.5, 1.5))
    return image


def _convert(values: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    return np.clip(values.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def pad_to(tensor: np.ndarray, label: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pad bottom/right to `size`: 0 in normalised space for the image (mmseg pads after Normalize),
    IGNORE_INDEX for the label, so padding never enters the loss."""
    ph, pw = size[0] - label.shape[0], size[1] - label.shape[1]
    if ph <= 0 and pw <= 0:
        return tensor, label
    tensor = np.pad(tensor, ((0, 0), (0, max(ph, 0)), (0, max(pw, 0))))
    label = np.pad(label, ((0, max(ph, 0)), (0, max(pw, 0))), constant_values=IGNORE_INDEX)
    return tensor, label
