"""Tiny Pascal VOC trees in the real on-disk layout, with blocks a small network learns quickly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# One colour per class used here; other classes stay absent, as in a small real subset.
_COLOURS = {0: (20, 20, 20), 1: (220, 40, 40), 2: (40, 200, 60), 3: (50, 70, 230)}


def write_voc_tree(root: Path, count: int, size: tuple[int, int] = (32, 64), seed: int = 0,
                   ignore_border: bool = True) -> Path:
    """`count` images in JPEGImages/ + SegmentationClass/ PNGs; `train.txt` and `val.txt` list them all.

    With `ignore_border` each block gets VOC's 255 outline; without it every pixel counts, so each
    image has the same number of labelled pixels (what the DDP equivalence test needs).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    ids = [f"2007_{i:06d}" for i in range(count)]
    for image_id in ids:
        label = np.zeros((h, w), np.uint8)
        for cls in rng.choice([1, 2, 3], size=2, replace=False):
            y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
            bh, bw = rng.integers(h // 4, h // 2 + 1), rng.integers(w // 4, w // 2 + 1)
            label[y:y + bh, x:x + bw] = cls
            if ignore_border:
                label[y, x:x + bw] = label[y + bh - 1 if y + bh <= h else h - 1, x:x + bw] = 255
        colours = np.array([_COLOURS.get(int(c), (128, 128, 128)) for c in range(256)], np.float32)
        image = colours[label] + rng.normal(0, 12, (h, w, 3))
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / "JPEGImages" / f"{image_id}.jpg",
                                                                       quality=95)
        Image.fromarray(label, mode="L").save(root / "SegmentationClass" / f"{image_id}.png")
    for split in ("train", "val"):
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


@pytest.fixture(scope="session")
def voc_tree(tmp_path_factory) -> Path:
    return write_voc_tree(tmp_path_factory.mktemp("voc"), 8)


@pytest.fixture(scope="session")
def voc_tree_no_ignore(tmp_path_factory) -> Path:
    return write_voc_tree(tmp_path_factory.mktemp("voc_full"), 8, ignore_border=False)
