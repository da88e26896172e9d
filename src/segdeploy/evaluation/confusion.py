"""The one confusion-matrix accumulator behind every segmentation metric.

Layout, for `C` classes: an int64 `(C + 1, C + 1)` matrix, rows = label, columns = prediction.
Pixels whose label equals `ignore_index` are never counted. Row `C` collects labels that are
neither ignored nor in `0..C-1`; column `C` collects predictions outside `0..C-1`. The extra row
and column are what make mmsegmentation 0.x semantics exact (spec §4): an out-of-range label
still puts its prediction into the predicted class's area (and union), and an out-of-range
prediction is a false negative for the true class and a false positive for nobody.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ConfusionMatrix:
    """Accumulates label x prediction pixel counts over images, processes and resumed runs."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)  # (label, pred)

    def update(self, pred: np.ndarray, label: np.ndarray) -> None:
        """Count one prediction/label pair of equal shape (any integer dtypes; inputs untouched).

        One pass and one bincount over flat cell indices `row * (C + 1) + col`; ignored pixels get
        an index past the matrix instead of being filtered out, so nothing is copied per class or
        boolean-indexed (a 2048x1024 uint8/int32 pair costs a few milliseconds).
        """
        pred, label = np.asarray(pred), np.asarray(label)
        if pred.shape != label.shape:
            raise ValueError(f"prediction shape {pred.shape} does not match label shape {label.shape}")
        for name, arr in (("prediction", pred), ("label", label)):
            if not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
        size = self.num_classes + 1
        cells = self._row_offsets(label) + _column_of(pred, self.num_classes)  # (H, W) int64
        counts = np.bincount(cells.ravel(), minlength=size * size + size)  # past size*size: ignored pixels
        self.matrix += counts[:size * size].reshape(size, size)

    def _row_offsets(self, label: np.ndarray) -> np.ndarray:
        """`row * (C + 1)` per pixel (row C: a label outside 0..C-1), `(C + 1) ** 2` where ignored."""
        size = self.num_classes + 1
        if label.dtype == np.uint8:  # the usual label PNG: one table lookup
            values = np.arange(256)
            table = np.where(values < self.num_classes, values, self.num_classes) * size
            table[values == self.ignore_index] = size * size
            return table[label]
        wide = label.astype(np.int64)  # a copy: the caller's array is never written
        rows = np.where((wide >= 0) & (wide < self.num_classes), wide, self.num_classes) * size
        return np.where(wide == self.ignore_index, size * size, rows)

    def merge(self, other: ConfusionMatrix) -> None:
        """Add another accumulator's counts into this one (same classes and ignore index)."""
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                f"cannot merge a matrix for {other.num_classes} classes (ignore {other.ignore_index}) into "
                f"one for {self.num_classes} classes (ignore {self.ignore_index})"
            )
        self.matrix += other.matrix

    def all_reduce_(self) -> None:
        """Sum the matrix over all processes in place; a no-op unless torch.distributed is initialised.

        This is the one cross-process reduction of the evaluation: every rank calls it once, after its
        last `update`, and every rank then holds the dataset totals.
        """
        # torch only for the distributed reduction: the metrics themselves stay numpy-only
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        # int64 keeps the counts exact (float32 would round past 2**24 pixels); NCCL only reduces
        # device tensors, gloo reduces CPU ones.
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        totals = torch.as_tensor(self.matrix, dtype=torch.int64).to(device)
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
        self.matrix = totals.cpu().numpy().astype(np.int64, copy=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot, so an interrupted evaluation can resume from its partial totals."""
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "matrix": self.matrix.tolist(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ConfusionMatrix:
        """Rebuild an accumulator from `to_json` output; raises ValueError on a malformed snapshot."""
        try:
            cm = cls(int(obj["num_classes"]), int(obj["ignore_index"]))
            matrix = np.asarray(obj["matrix"], dtype=np.int64)
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"not a confusion-matrix snapshot: {err}") from err
        if matrix.shape != cm.matrix.shape or (matrix < 0).any():
            raise ValueError(
                f"confusion-matrix snapshot must be a non-negative {cm.matrix.shape} matrix, "
                f"got shape {matrix.shape}"
            )
        cm.matrix = matrix
        return cm


def _column_of(pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Class ids as themselves and every value outside 0..C-1 as the extra column C (int64).

    Read as unsigned, negative ids become huge, so one `minimum` buckets both ends.
    """
    unsigned = pred.view(np.dtype(f"u{pred.dtype.itemsize}")) if pred.dtype.kind == "i" else pred
    return np.minimum(unsigned, num_classes).astype(np.int64)
