"""JSON and markdown forms of results, for files a person or a script reads later."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from segdeploy.evaluation.metrics import SegMetrics


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


# mmseg 1.x's per-class metrics beside 0.x's IoU and Acc, and their means.
EXTRA_CLASS_METRICS = ("Dice", "Fscore", "Precision", "Recall")


def metrics_json(metrics: SegMetrics, class_names: Sequence[str], **extra: Any) -> dict[str, Any]:
    """Unrounded fractions (null where undefined), per class by name."""
    return {
        "aAcc": _number(metrics.aAcc), "mIoU": _number(metrics.mIoU), "mAcc": _number(metrics.mAcc),
        **{f"m{name}": _number(getattr(metrics, f"m{name}")) for name in EXTRA_CLASS_METRICS},
        **{name: {c: _number(v) for c, v in zip(class_names, getattr(metrics, name))}
           for name in ("IoU", "Acc", *EXTRA_CLASS_METRICS)},
        **extra,
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def nan_to_null(obj: Any) -> Any:
    """`obj` with every NaN float replaced by None (strict JSON has no NaN), through dicts and lists."""
    if isinstance(obj, float):
        return _number(obj)
    if isinstance(obj, dict):
        return {key: nan_to_null(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [nan_to_null(value) for value in obj]
    return obj
