"""Cityscapes: the 19 evaluation classes, the id -> trainId table, and the on-disk layout reader.

The tables come from cityscapesscripts' own label list (importing it is cheap and, unlike its
evaluator, does not touch numpy APIs that numpy 2.4 removed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cityscapesscripts.helpers.labels import labels as _CS_LABELS

from segdeploy.data.decode import load_label
from segdeploy.errors import SegdeployError

IGNORE_INDEX = 255

_EVAL_LABELS = sorted((lb for lb in _CS_LABELS if 0 <= lb.trainId < 255), key=lambda lb: lb.trainId)
CITYSCAPES_CLASSES: tuple[str, ...] = tuple(lb.name for lb in _EVAL_LABELS)
CITYSCAPES_PALETTE: tuple[tuple[int, int, int], ...] = tuple(tuple(lb.color) for lb in _EVAL_LABELS)

# labelIds 0..33 -> trainIds (255 = ignored); any other id is unexpected and rejected by readers.
ID_TO_TRAINID = np.full(256, -1, dtype=np.int16)
for _lb in _CS_LABELS:
    if 0 <= _lb.id <= 33:
        ID_TO_TRAINID[_lb.id] = _lb.trainId
# trainId -> labelId for the official evaluator: the first label with that trainId wins (255 -> 0).
TRAINID_TO_ID = np.zeros(256, dtype=np.uint8)
for _lb in reversed([lb for lb in _CS_LABELS if 0 <= lb.id <= 33]):
    TRAINID_TO_ID[_lb.trainId] = _lb.id

_IMAGE_SUFFIX = "_leftImg8bit.png"
_TRAINIDS_SUFFIX = "_gtFine_labelTrainIds.png"
_LABELIDS_SUFFIX = "_gtFine_labelIds.png"
_VALID_TRAINIDS = set(range(len(CITYSCAPES_CLASSES))) | {IGNORE_INDEX}


@dataclass(frozen=True)
class Sample:
    """One image and its label file (None when the split has none, e.g. `test`).

    `stem` is the image file name cut at its first dot, which is how ais_bench names the outputs
    (`<stem>_0.bin`) and the preprocessing names the inputs (`<stem>.bin`).
    """

    stem: str
    image_path: Path
    label_path: Path | None


def _label_path(gt_dir: Path, core: str) -> Path | None:
    # Converted trainIds win; raw labelIds are mapped on reading, which gives the same image.
    for suffix in (_TRAINIDS_SUFFIX, _LABELIDS_SUFFIX):
        candidate = gt_dir / f"{core}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def list_cityscapes(root: str | Path, split: str, *, require_labels: bool = True) -> list[Sample]:
    """All samples of `root/leftImg8bit/<split>`, sorted by `<city>/<file>` as mmseg does.

    Labels come from `root/gtFine/<split>/<city>/`; with `require_labels` a missing one is an error.
    """
    root = Path(root)
    image_dir = root / "leftImg8bit" / split
    if not image_dir.is_dir():
        raise SegdeployError.at(image_dir, "no such folder (expected the Cityscapes layout "
                                           "leftImg8bit/<split>/<city>/*_leftImg8bit.png)")
    images = sorted(image_dir.rglob(f"*{_IMAGE_SUFFIX}"), key=lambda p: p.relative_to(image_dir).as_posix())
    if not images:
        raise SegdeployError.at(image_dir, f"no *{_IMAGE_SUFFIX} images found")
    samples = []
    for image_path in images:
        core = image_path.name[: -len(_IMAGE_SUFFIX)]
        gt_dir = root / "gtFine" / split / image_path.parent.relative_to(image_dir)
        label_path = _label_path(gt_dir, core)
        if label_path is None and require_labels:
            raise SegdeployError.at(gt_dir / f"{core}{_LABELIDS_SUFFIX}",
                                    f"no label for {image_path.name} (neither {_TRAINIDS_SUFFIX[1:]} "
                                    f"nor {_LABELIDS_SUFFIX[1:]})")
        samples.append(Sample(image_path.name.split(".", 1)[0], image_path, label_path))
    return samples


def read_cityscapes_label(sample: Sample) -> np.ndarray:
    """The sample's label as (H, W) uint8 trainIds (255 = ignore), mapping labelIds if needed."""
    if sample.label_path is None:
        raise SegdeployError.at(sample.image_path, "this image has no gtFine label file")
    path = sample.label_path
    label = load_label(path)
    if path.name.endswith(_TRAINIDS_SUFFIX):
        present = np.flatnonzero(np.bincount(label.ravel(), minlength=256))  # a sort (np.unique) costs 10x more
        bad = sorted(set(present.tolist()) - _VALID_TRAINIDS)
        if bad:
            raise SegdeployError.at(path, f"trainId {bad[0]} is not a Cityscapes trainId (0..18 or 255)")
        return label
    return label_ids_to_train_ids(label, path)


def label_ids_to_train_ids(label_ids: np.ndarray, path: str | Path) -> np.ndarray:
    """(H, W) label ids -> uint8 trainIds (255 = ignore); an id outside 0..33 is an error naming `path`."""
    train_ids = ID_TO_TRAINID[label_ids]  # (H, W) int16, -1 where the id is not a Cityscapes label id
    if (train_ids < 0).any():
        raise SegdeployError.at(path, f"label id {int(label_ids[train_ids < 0].min())} is outside 0..33")
    return train_ids.astype(np.uint8)
