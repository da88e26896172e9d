"""Dataset readers by name, so commands work the same on Cityscapes and Pascal VOC trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segdeploy.data.cityscapes import Sample, list_cityscapes, read_cityscapes_label
from segdeploy.data.decode import load_label
from segdeploy.data.voc import list_voc
from segdeploy.errors import SegdeployError


def list_samples(dataset: str, root: str | Path, split: str, require_labels: bool = True) -> list[Sample]:
    """The images (and label files) of `split` under `root`, in the order the reference tools use."""
    if dataset == "cityscapes":
        return list_cityscapes(root, split, require_labels=require_labels)
    if dataset == "voc":
        return list_voc(root, split, require_labels=require_labels)
    raise ValueError(f"unknown dataset {dataset!r}")


def read_label(dataset: str, sample: Sample) -> np.ndarray:
    """(H, W) uint8 class indices in 0..C-1, 255 ignored."""
    if dataset == "cityscapes":
        return read_cityscapes_label(sample)
    if sample.label_path is None:
        raise SegdeployError.at(sample.image_path, "this image has no label file")
    return load_label(sample.label_path)  # VOC palette PNGs store the class index


def read_label_of_size(dataset: str, sample: Sample, image_hw: tuple[int, int]) -> np.ndarray:
    """`read_label`, refusing a label whose size is not its image's (one line naming the label file)."""
    label = read_label(dataset, sample)
    if label.shape != tuple(image_hw):
        raise SegdeployError.at(sample.label_path, f"label is {label.shape[0]}x{label.shape[1]} but its image "
                                                   f"{sample.image_path.name} is {image_hw[0]}x{image_hw[1]}")
    return label
