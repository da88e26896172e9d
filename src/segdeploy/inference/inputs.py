"""Where inference inputs come from: a folder of preprocessed `.bin` files, or a dataset root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from segdeploy.data.binio import list_input_bins, read_info, read_input_bin
from segdeploy.data.cityscapes import Sample
from segdeploy.data.datasets import list_samples, read_label_of_size
from segdeploy.data.images import read_rgb
from segdeploy.data.variants import Geometry, get_variant, make_inputs
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
    """One sample to predict: its output stem, where it comes from, and how to prepare it.

    Reading (I/O) and preparing (decode, resize, normalise) are separate so the pipeline can time
    and overlap them; `label`, when known, gives the (H, W) ground truth of an image of size
    (H, W) for scoring while predicting (a label of another size is an error naming its file).
    """

    stem: str
    source: Path | None
    read: Callable[[], object]
    prepare: Callable[[object], Prepared]
    label: Callable[[tuple[int, int]], np.ndarray] | None = None

    def load(self) -> Prepared:
        return self.prepare(self.read())


def items_from_dataset(spec: ModelSpec, root: Path, split: str, variant: str | None = None) -> list[InputItem]:
    """Every image of `split` under a dataset root in its real on-disk layout, prepared per `variant`."""
    chosen = get_variant(spec, variant)

    def item(sample: Sample) -> InputItem:
        path = sample.image_path
        label = None if sample.label_path is None else (lambda hw: read_label_of_size(spec.dataset, sample, hw))
        return InputItem(sample.stem, path, read=lambda: _read_bytes(path),
                         prepare=lambda data: Prepared(*make_inputs(spec, chosen, read_rgb(path, data))),
                         label=label)

    return [item(s) for s in list_samples(spec.dataset, root, split, require_labels=False)]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise SegdeployError.at(path, f"cannot read ({err.strerror or err})") from None


def items_from_bins(folder: Path, input_hw: tuple[int, int] | None = None, info: Path | None = None,
                    default_hw: tuple[int, int] | None = None) -> list[InputItem]:
    """Every `.bin` of a preprocess folder (natural order, as ais_bench reads it).

    Each file's (H, W) is `input_hw` when given, else its line in the `.info` file (`info`, or
    `<folder>.info` when present: sizes may differ per image, e.g. mmseg's keep-ratio resize),
    else `default_hw`.
    """
    paths = list_input_bins(folder)
    sizes = _sizes_from_info(info or folder.with_suffix(".info"), required=info is not None)

    def size_of(path: Path) -> tuple[int, int]:
        size = input_hw or sizes.get(path.name) or default_hw
        if size is None:
            raise SegdeployError.at(path, "size unknown: not in the .info file; pass --info or --input-size")
        return size

    def item(path: Path) -> InputItem:
        # ais_bench names outputs after the input file cut at its first dot
        return InputItem(path.name.split(".", 1)[0], path,
                         read=lambda: read_input_bin(path, (3, *size_of(path)))[0],  # (3, H, W)
                         prepare=lambda chw: Prepared([chw], None))

    return [item(p) for p in paths]


def _sizes_from_info(path: Path, required: bool) -> dict[str, tuple[int, int]]:
    """File name -> (H, W) from the guides' `.info` (`index path width height`), keyed by base name
    because the guides write paths relative to wherever their script ran."""
    if not required and not path.is_file():
        return {}
    return {Path(e.path).name: (e.height, e.width) for e in read_info(path)}
