"""Cityscapes' official pixel-level evaluator (cityscapesscripts 2.3.0) on trainId predictions.

Predictions are written as label-id PNGs named `<core>_leftImg8bit.png` (as mmseg's
`format_results` does) and scored by `evalPixelLevelSemanticLabeling.evaluateImgLists`, configured
here instead of through sys.argv or environment variables. Its class IoUs and mean equal ours
(spec §5 "Equivalence"); aAcc and mAcc come only from `segdeploy.evaluation.metrics`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval
from cityscapesscripts.helpers.labels import labels as _CS_LABELS
from PIL import Image

from segdeploy.data.cityscapes import CITYSCAPES_CLASSES, TRAINID_TO_ID
from segdeploy.errors import SegdeployError
from segdeploy.reporting.atomic import write_atomic, write_json_atomic

GT_SUFFIX = "_gtFine_labelIds.png"
PRED_SUFFIX = "_leftImg8bit.png"

_EVALUATED = [lb for lb in _CS_LABELS if not lb.ignoreInEval]
# flat, construction, object, nature, sky, human, vehicle ('void' holds only ignored ids)
_CATEGORIES = tuple(dict.fromkeys(lb.category for lb in _EVALUATED))
# person ... bicycle: the classes whose instances the evaluator weights for iIoU
_INSTANCE_CLASSES = tuple(lb.name for lb in _EVALUATED if lb.hasInstances)
# human, vehicle: the evaluator gives a category iIoU only when all its labels have instances
_INSTANCE_CATEGORIES = tuple(
    cat
    for cat in _CATEGORIES
    if all(lb.hasInstances for lb in _CS_LABELS if lb.category == cat and lb.id >= 0)
)


@dataclass(frozen=True)
class OfficialScores:
    """The official evaluator's numbers, as fractions; NaN where a class or category is undefined."""

    class_iou: dict[str, float]  # the 19 evaluated classes, in trainId order
    mean_iou: float  # averageScoreClasses: the Cityscapes mIoU
    category_iou: dict[str, float]
    mean_category_iou: float  # averageScoreCategories
    # instance-normalised scores; None when the ground truth came without instanceIds files
    class_iiou: dict[str, float] | None
    mean_iiou: float | None  # averageScoreInstClasses
    category_iiou: dict[str, float] | None
    mean_category_iiou: float | None  # averageScoreInstCategories


def write_prediction(results_dir: str | Path, core_name: str, train_ids: np.ndarray) -> Path:
    """Write one (H, W) trainId prediction as the label-id PNG the official evaluator reads."""
    train_ids = np.asarray(train_ids)
    if train_ids.ndim != 2 or not np.issubdtype(train_ids.dtype, np.integer):
        raise ValueError(f"expected an (H, W) integer trainId map, got {train_ids.dtype} {train_ids.shape}")
    # Anything outside 0..255 means "no class", like 255 itself: it becomes id 0 (unlabeled), a miss
    # in both this evaluator and ours, so the two stay equal.
    in_table = (train_ids >= 0) & (train_ids <= 255)
    label_ids = TRAINID_TO_ID[np.where(in_table, train_ids.astype(np.int64), 255)]  # (H, W) uint8
    path = Path(results_dir) / f"{core_name}{PRED_SUFFIX}"
    return write_atomic(path, lambda f: Image.fromarray(label_ids).save(f, format="PNG"))


def evaluate_official(
    gt_label_files: Sequence[str | Path],
    results_dir: str | Path,
    export_json: str | Path | None = None,
) -> OfficialScores:
    """Score the `<core>_leftImg8bit.png` predictions in `results_dir` against `*_gtFine_labelIds.png`.

    iIoU is computed when every ground truth has its `_gtFine_instanceIds.png` beside it, and is
    None when none has. `export_json` (optional) receives the evaluator's full result dictionary.
    """
    gt_files = [Path(gt) for gt in gt_label_files]
    if not gt_files:
        raise SegdeployError.at(results_dir, "no ground-truth files to evaluate against")
    pred_files = []
    for gt in gt_files:
        pred = Path(results_dir) / f"{core_name(gt)}{PRED_SUFFIX}"
        if not pred.is_file():
            raise SegdeployError.at(pred, f"no prediction for ground truth {gt}")
        pred_files.append(pred)
    with_instances = _has_instance_files(gt_files)
    result = _run_evaluator(pred_files, gt_files, with_instances)
    if export_json is not None:
        write_json_atomic(export_json, result)
    return _official_scores(result, with_instances)


def evaluate_official_arrays(
    predictions: Mapping[str, np.ndarray],
    gt_label_files: Sequence[str | Path],
    export_json: str | Path | None = None,
) -> OfficialScores:
    """`evaluate_official` on in-memory trainId predictions keyed by core name `<city>_<seq>_<frame>`."""
    with tempfile.TemporaryDirectory(prefix="segdeploy-cs-results-") as results_dir:
        for name, train_ids in predictions.items():
            write_prediction(results_dir, name, train_ids)
        return evaluate_official(gt_label_files, results_dir, export_json)


def core_name(gt_label_file: str | Path) -> str:
    """`<city>_<seq>_<frame>` of a `<city>_<seq>_<frame>_gtFine_labelIds.png` path."""
    name = Path(gt_label_file).name
    if not name.endswith(GT_SUFFIX):
        raise SegdeployError.at(gt_label_file, f"expected a *{GT_SUFFIX} ground-truth file")
    return name[: -len(GT_SUFFIX)]


def _has_instance_files(gt_files: list[Path]) -> bool:
    # Same path rewrite as the evaluator's, so we check exactly the files it will open.
    instance_files = [Path(str(gt).replace("labelIds", "instanceIds")) for gt in gt_files]
    present = [path.is_file() for path in instance_files]
    if any(present) and not all(present):
        missing = instance_files[present.index(False)]
        raise SegdeployError.at(missing, "missing while other ground truths have one (iIoU needs all)")
    return all(present)


def _run_evaluator(pred_files: list[Path], gt_files: list[Path], with_instances: bool) -> dict[str, Any]:
    # A copy of the script's own settings keeps its avgClassSize table (the iIoU weights) unchanged.
    args = copy.copy(cs_eval.args)
    args.evalInstLevelScore = with_instances
    args.evalPixelAccuracy = False  # mislabelled counters (spec §5); aAcc comes from our metric
    args.JSONOutput = False  # `evaluate_official` writes the result itself, atomically
    args.quiet = True
    args.colorized, args.bold, args.nocol = False, "", ""
    printed = io.StringIO()
    try:
        with _numpy_in1d_alias(), contextlib.redirect_stdout(printed):
            return cs_eval.evaluateImgLists([str(p) for p in pred_files], [str(g) for g in gt_files], args)
    except SystemExit:
        # The script reports bad input (unknown label id, size mismatch) by printing "ERROR: ..." and exiting.
        message = " ".join(printed.getvalue().split()) or "exited without a message"
        raise SegdeployError(f"official Cityscapes evaluator: {message}") from None


@contextlib.contextmanager
def _numpy_in1d_alias() -> Iterator[None]:
    """Lend numpy an `in1d` for the evaluator's call only.

    cityscapesscripts 2.3.0 calls `np.in1d` (category masks for iIoU); NumPy 2.4 removed it, and
    NumPy 2.0-2.3 warn that it is deprecated. `in1d` is `isin` flattened to 1-D.
    """
    added = not hasattr(np, "in1d")
    if added:

        def in1d(ar1: Any, ar2: Any, **kwargs: Any) -> np.ndarray:
            return np.isin(np.asarray(ar1).ravel(), ar2, **kwargs)

        np.in1d = in1d
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*in1d.*", category=DeprecationWarning)
            yield
    finally:
        if added:
            del np.in1d


def _official_scores(result: dict[str, Any], with_instances: bool) -> OfficialScores:
    def pick(scores: dict[str, float], names: Sequence[str]) -> dict[str, float]:
        return {name: float(scores[name]) for name in names}

    return OfficialScores(
        class_iou=pick(result["classScores"], CITYSCAPES_CLASSES),
        mean_iou=float(result["averageScoreClasses"]),
        category_iou=pick(result["categoryScores"], _CATEGORIES),
        mean_category_iou=float(result["averageScoreCategories"]),
        class_iiou=pick(result["classInstScores"], _INSTANCE_CLASSES) if with_instances else None,
        mean_iiou=float(result["averageScoreInstClasses"]) if with_instances else None,
        category_iiou=pick(result["categoryInstScores"], _INSTANCE_CATEGORIES) if with_instances else None,
        mean_category_iiou=float(result["averageScoreInstCategories"]) if with_instances else None,
    )
