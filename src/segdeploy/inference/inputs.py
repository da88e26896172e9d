"""Where inference inputs come from: a folder of preprocessed `.bin` files, or a dataset root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from segdeploy.data.variants import Geometry
from segdeploy.errors import SegdeployError
from segdeploy.models.spec import ModelSpec


@dataclass(frozen=True)
class Prepared:
    """One sample's network inputs, float32 (3, h, w) each, and how to post-process their outputs.

    `geometry` None: a preprocessed `.bin` input, whose raw output is written as is (as ais_bench
    does); otherwise the outputs are mapped back to the image by the variant.
    """

    inputs: list[np.ndarray]
    geometry: Geometry | None


@dataclass(frozen=True)
class InputItem:
    """One sample to predict: its output stem, where it comes from, and how to prepare it."""

    stem: str
    source: Path | None
    load: Callable[[], Prepared]


def items_from_dataset(spec: ModelSpec, root: Path, split: str, variant: str | None = None) -> list[InputItem]:
    """Every image of `split` under a dataset root in its real on-disk layout, prepared per `variant`."""
    from segdeploy.data.datasets import list_samples
    from segdeploy.data.images import read_rgb
    from segdeploy.data.variants import get_variant, make_inputs

    chosen = get_variant(spec, variant)

    def loader(path: Path) -> Callable[[], Prepared]:
        return lambda: Prepared(*make_inputs(spec, chosen, read_rgb(path)))

    return [InputItem(s.stem, s.image_path, loader(s.image_path))
            for s in list_samples(spec.dataset, root, split, require_labels=False)]


def items_from_bins(folder: Path, input_hw: tuple[int, int] | None = None, info: Path | None = None,
                    default_hw: tuple[int, int] | None = None) -> list[InputItem]:
    """Every `.bin` of a preprocess folder (natural order, as ais_bench reads it).

    Each file's (H, W) is `input_hw` when given, else its line in the `.info` file (`info`, or
    `<folder>.info` when present: sizes may differ per image, e.g. mmseg's keep-ratio resize),
    else `default_hw`.
    """
    from segdeploy.data.binio import list_input_bins, read_input_bin

    paths = list_input_bins(folder)
    sizes = _sizes_from_info(info or folder.with_suffix(".info"), required=info is not None)

    def size_of(path: Path) -> tuple[int, int]:
        size = input_hw or sizes.get(path.name) or default_hw
        if size is None:
            raise SegdeployError.at(path, "size unknown: not in the .info file; pass --info or --input-size")
        return size

    def loader(path: Path) -> Callable[[], Prepared]:
        return lambda: Prepared([read_input_bin(path, (3, *size_of(path)))[0]], None)

    # ais_bench names outputs after the input file cut at its first dot
    return [InputItem(p.name.split(".", 1)[0], p, loader(p)) for p in paths]


def _sizes_from_info(path: Path, required: bool) -> dict[str, tuple[int, int]]:
    """File name -> (H, W) from the guides' `.info` (`index path width height`), keyed by base name
    because the guides write paths relative to wherever their script ran."""
    from segdeploy.data.binio import read_info

    if not required and not path.is_file():
        return {}
    return {Path(e.path).name: (e.height, e.width) for e in read_info(path)}
