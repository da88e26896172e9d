"""Where inference inputs come from: a folder of preprocessed `.bin` files, or a dataset root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from segdeploy.errors import SegdeployError
from segdeploy.models.spec import ModelSpec


@dataclass(frozen=True)
class InputItem:
    """One image to predict: its output stem and how to load its normalised (3, H, W) float32 tensor."""

    stem: str
    source: Path
    load: Callable[[], np.ndarray]


def items_from_dataset(spec: ModelSpec, root: Path, split: str) -> list[InputItem]:
    """Every image of `split` under a dataset root in its real on-disk layout, normalised per `spec`."""
    from segdeploy.data.datasets import list_samples
    from segdeploy.data.images import read_rgb
    from segdeploy.data.transforms import normalize

    def loader(path: Path) -> Callable[[], np.ndarray]:
        return lambda: normalize(read_rgb(path), spec.preprocess)

    return [InputItem(s.stem, s.image_path, loader(s.image_path))
            for s in list_samples(spec.dataset, root, split, require_labels=False)]


def items_from_bins(folder: Path, input_hw: tuple[int, int]) -> list[InputItem]:
    """Every `.bin` of a preprocess folder (natural order, as ais_bench reads it)."""
    from segdeploy.data.binio import list_input_bins, read_input_bin

    paths = list_input_bins(folder)
    if not paths:
        raise SegdeployError.at(folder, "no .bin files found")
    shape = (3, *input_hw)

    def loader(path: Path) -> Callable[[], np.ndarray]:
        return lambda: read_input_bin(path, shape)[0]

    # ais_bench names outputs after the input file cut at its first dot
    return [InputItem(p.name.split(".", 1)[0], p, loader(p)) for p in paths]
