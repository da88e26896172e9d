"""aAcc / mAcc / mIoU as pure functions of a ConfusionMatrix, with mmsegmentation 0.x semantics, and
mmsegmentation 1.x's `IoUMetric` extras beside them: Dice, Precision, Recall and Fscore per class.

Every number is an unrounded fraction; rounding to a 2-decimal percentage is for display only
(see `segdeploy.reporting.tables`). Undefined entries are NaN and are skipped by the means.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from segdeploy.evaluation.confusion import ConfusionMatrix


@dataclass(frozen=True)
class SegMetrics:
    """Dataset-level segmentation metrics; arrays are indexed by class and read-only."""

    aAcc: float  # sum(intersect) / sum(label): pixel accuracy over valid, in-range labels
    mAcc: float  # mean of Acc over classes where it is defined
    mIoU: float  # mean of IoU over classes where it is defined
    IoU: np.ndarray  # (C,) float64, NaN where the class is neither labelled nor predicted
    Acc: np.ndarray  # (C,) float64, NaN where the class is never labelled
    area_intersect: np.ndarray  # (C,) int64 pixels with prediction == label == c
    area_union: np.ndarray  # (C,) int64 area_pred + area_label - area_intersect
    area_pred: np.ndarray  # (C,) int64 pixels predicted as c, on every non-ignored label
    area_label: np.ndarray  # (C,) int64 pixels labelled c

    @property
    def num_classes(self) -> int:
        return len(self.IoU)

    # mmseg 1.x `IoUMetric.total_area_to_metrics`, from the same four areas (its areas equal these:
    # ignored labels dropped, predictions on out-of-range labels still counted as predicted).
    @property
    def Dice(self) -> np.ndarray:
        """2 * intersect / (pred + label) per class; NaN where the class is neither labelled nor predicted."""
        return _ratio(2 * self.area_intersect, self.area_pred + self.area_label)

    @property
    def Precision(self) -> np.ndarray:
        """intersect / pred per class; NaN where the class is never predicted."""
        return _ratio(self.area_intersect, self.area_pred)

    @property
    def Recall(self) -> np.ndarray:
        """intersect / label per class (= Acc); NaN where the class is never labelled."""
        return _ratio(self.area_intersect, self.area_label)

    @property
    def Fscore(self) -> np.ndarray:
        """F1 per class (mmseg's default beta 1)."""
        return f_score(self.Precision, self.Recall, beta=1.0)

    @property
    def mDice(self) -> float:
        return _nanmean(self.Dice)

    @property
    def mPrecision(self) -> float:
        return _nanmean(self.Precision)

    @property
    def mRecall(self) -> float:
        return _nanmean(self.Recall)

    @property
    def mFscore(self) -> float:
        return _nanmean(self.Fscore)


def f_score(precision: np.ndarray, recall: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """(1 + beta^2) * P * R / (beta^2 * P + R), NaN where the denominator is 0.

    NOTE: as mmseg 1.x computes it (0/0 in torch is NaN): a class that is predicted and labelled
    but never hit (P = R = 0) gets NaN, not 0, and so drops out of mFscore.
    """
    return _ratio((1 + beta ** 2) * precision * recall, beta ** 2 * precision + recall)


def segmentation_metrics(cm: ConfusionMatrix) -> SegMetrics:
    """The mmseg 0.x metrics of the pixels counted in `cm` (spec §4)."""
    c = cm.num_classes
    matrix = cm.matrix  # (C + 1, C + 1): rows label, columns prediction; index C = out of range
    intersect = np.diagonal(matrix)[:c].copy()
    area_label = matrix[:c, :].sum(axis=1)  # includes predictions outside 0..C-1 (misses)
    area_pred = matrix[:, :c].sum(axis=0)  # includes pixels whose label is out of range
    area_union = area_pred + area_label - intersect
    iou = _ratio(intersect, area_union)
    acc = _ratio(intersect, area_label)
    total_label = int(area_label.sum())
    a_acc = int(intersect.sum()) / total_label if total_label else float("nan")
    return SegMetrics(
        aAcc=a_acc,
        mAcc=_nanmean(acc),
        mIoU=_nanmean(iou),
        IoU=_frozen(iou),
        Acc=_frozen(acc),
        area_intersect=_frozen(intersect),
        area_union=_frozen(area_union),
        area_pred=_frozen(area_pred),
        area_label=_frozen(area_label),
    )


def evaluate_arrays(
    preds: Iterable[np.ndarray],
    labels: Iterable[np.ndarray],
    num_classes: int,
    ignore_index: int = 255,
) -> SegMetrics:
    """Metrics of paired prediction/label arrays (any integer dtypes); the inputs are not modified."""
    cm = ConfusionMatrix(num_classes, ignore_index)
    # strict: a missing label must not silently shorten the evaluation (zip raises ValueError)
    for pred, label in zip(preds, labels, strict=True):
        cm.update(pred, label)
    return segmentation_metrics(cm)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den in float64, NaN where den is 0 or NaN (mmseg's 0/0), without a RuntimeWarning."""
    out = np.full(np.shape(num), np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=np.asarray(den) > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    """np.nanmean's exact arithmetic (zero-filled sum / count), but NaN instead of a warning when all NaN."""
    valid = ~np.isnan(values)
    if not valid.any():
        return float("nan")
    return float(np.where(valid, values, 0.0).sum() / valid.sum())


def _frozen(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values
