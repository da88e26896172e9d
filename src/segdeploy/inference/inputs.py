"""Where inference inputs come from: a folder of preprocessed `.bin` files, or a dataset root.

An item's `read`, `prepare` and `label` are partials of module-level functions over plain data,
so items can be sent to the pipeline's worker processes (`segdeploy.inference.workers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from segdeploy.data.binio import list_input_bins, read_info, read_input_bin
from segdeploy.data.cityscapes import Sample
from segdeploy.data.datasets import list_samples, read_label_of_size
from segdeploy.data.decode import decode_rgb
from segdeploy.data.files import read_bytes
from segdeploy.data.variants import Geometry, get_variant, make_inputs
from segdeploy.errors import SegdeployError
from segdeploy.models.spec import ModelSpec, Variant
from segdeploy.runtime.engine_io import FLOAT_LOGITS, EngineIO


@dataclass(frozen=True)
class Prepared:
    """One sample's network inputs and how to post-process their outputs (and its label, when scored).

    Inputs are float32 (3, h, w) each, or for a file exported with `--fold-preprocess` uint8
    (h, w, 3) pixels. `geometry` None: a preprocessed `.bin` input, whose raw output is written as
    is (as ais_bench does); otherwise the outputs are mapped back to the image by the variant.
    """

    inputs: list[np.ndarray]
    geometry: Geometry | None
    label: np.ndarray | None = None  # (H, W) ground truth, read ahead with the image when scoring


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


def items_from_dataset(spec: ModelSpec, root: Path, split: str, variant: str | None = None,
                       io: EngineIO = FLOAT_LOGITS) -> list[InputItem]:
    """Every image of `split` under a dataset root in its real on-disk layout, prepared per `variant`
    as the engine's `io` takes them (uint8 pixels for a file that normalises them itself)."""
    chosen = get_variant(spec, variant)
    check_engine_fits(spec, chosen, io)

    def item(sample: Sample) -> InputItem:
        label = None if sample.label_path is None else partial(read_label_of_size, spec.dataset, sample)
        return InputItem(sample.stem, sample.image_path, read=partial(read_bytes, sample.image_path),
                         prepare=partial(_prepare_image, spec, chosen, io.pixels, sample.image_path), label=label)

    return [item(s) for s in list_samples(spec.dataset, root, split, require_labels=False)]


def check_engine_fits(spec: ModelSpec, variant: Variant, io: EngineIO) -> None:
    """One-line errors for a folded file run with a variant it was not folded for."""
    where = f"{spec.name} variant {variant.name}"
    if io.class_map and variant.kind in ("keep-ratio", "windows"):
        raise SegdeployError.at(where, "post-processes logits, but this engine returns class maps "
                                       "(exported with --fold-argmax)")
    canvas = variant.size[0] if variant.kind == "letterbox" and variant.size else None
    if io.pixels and io.pad_to != canvas:
        wanted = f"pads onto {canvas}x{canvas}" if canvas else "takes the image's pixels as they are"
        raise SegdeployError.at(where, f"{wanted}, but this engine {io.describe()}: export it again with "
                                       f"--fold-preprocess --variant {variant.name}")


def _prepare_image(spec: ModelSpec, variant: Variant, pixels: bool, path: Path, data: bytes) -> Prepared:
    return Prepared(*make_inputs(spec, variant, decode_rgb(path, data), pixels))


def items_from_bins(folder: Path, input_hw: tuple[int, int] | None = None, info: Path | None = None,
                    default_hw: tuple[int, int] | None = None) -> list[InputItem]:
    """Every `.bin` of a preprocess folder (natural order, as ais_bench reads it).

    Each file's (H, W) is `input_hw` when given, else its line in the `.info` file (`info`, or
    `<folder>.info` when present: sizes may differ per image, e.g. mmseg's keep-ratio resize),
    else `default_hw`.
    """
    paths = list_input_bins(folder)
    sizes = _sizes_from_info(info or folder.with_suffix(".info"), required=info is not None)
    # ais_bench names outputs after the input file cut at its first dot
    return [InputItem(path.name.split(".", 1)[0], path,
                      read=partial(_read_bin, path, input_hw or sizes.get(path.name) or default_hw),
                      prepare=_bin_input) for path in paths]


def _bin_input(chw: np.ndarray) -> Prepared:
    return Prepared([chw], None)


def _read_bin(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    if size is None:
        raise SegdeployError.at(path, "size unknown: not in the .info file; pass --info or --input-size")
    return read_input_bin(path, (3, *size))[0]  # (3, H, W)


def _sizes_from_info(path: Path, required: bool) -> dict[str, tuple[int, int]]:
    """File name -> (H, W) from the guides' `.info` (`index path width height`), keyed by base name
    because the guides write paths relative to wherever their script ran."""
    if not required and not path.is_file():
        return {}
    return {Path(e.path).name: (e.height, e.width) for e in read_info(path)}
