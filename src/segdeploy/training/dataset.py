"""Training samples: decoded images and trainId labels with random scale, crop and flip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segdeploy.data.cityscapes import IGNORE_INDEX
from segdeploy.models.spec import ModelSpec


class TrainDataset(torch.utils.data.Dataset):
    """(image (3, h, w) float32 normalised, label (h, w) int64) pairs from a dataset in its real layout."""

    def __init__(self, spec: ModelSpec, root: Path, split: str, crop: tuple[int, int] | None,
                 scale_range: tuple[float, float] = (0.75, 1.5), seed: int = 0) -> None:
        from segdeploy.data.datasets import list_samples

        self.spec, self.crop, self.scale_range, self.seed = spec, crop, scale_range, seed
        self.samples = list_samples(spec.dataset, root, split, require_labels=True)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from segdeploy.data.datasets import read_label
        from segdeploy.data.images import read_rgb
        from segdeploy.data.transforms import normalize

        rng = np.random.default_rng(torch.randint(0, 2**31 - 1, ()).item())  # follows torch's worker seeding
        sample = self.samples[index]
        image, label = read_rgb(sample.image_path), read_label(self.spec.dataset, sample)
        if self.crop is not None:
            image, label = _random_scale(image, label, rng.uniform(*self.scale_range))
            image, label = _random_crop(image, label, self.crop, rng)
        if rng.random() < 0.5:
            image, label = image[:, ::-1], label[:, ::-1]
        tensor = normalize(np.ascontiguousarray(image), self.spec.preprocess)
        return torch.from_numpy(tensor), torch.from_numpy(np.ascontiguousarray(label).astype(np.int64))


def _random_scale(image: np.ndarray, label: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = label.shape
    size = (max(1, int(w * scale + 0.5)), max(1, int(h * scale + 0.5)))
    image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    label = np.asarray(Image.fromarray(label).resize(size, Image.NEAREST))
    return image, label


def _random_crop(image: np.ndarray, label: np.ndarray, crop: tuple[int, int],
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Crop (padding with 0 / ignore when the image is smaller than the crop)."""
    ch, cw = crop
    h, w = label.shape
    if h < ch or w < cw:
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)))
        label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)
        h, w = label.shape
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return image[y:y + ch, x:x + cw], label[y:y + ch, x:x + cw]
