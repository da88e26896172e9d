"""How far an engine's logits are from the PyTorch reference's, and the verdict against chosen criteria.

The numbers per output: max and mean |Δlogit|, max relative Δ (torch.onnx.verification's
definition: |Δ| / (|reference| + 1e-7)), the share of pixels whose argmax class is the
reference's, and how many values are not finite. Any non-finite value fails the check: NaN
compares unequal to everything, so an all-NaN output would otherwise "agree" through argmax.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.onnx.verification import VerificationInfo

from segdeploy.evaluation.metrics import SegMetrics
from segdeploy.verify.criteria import Criteria


@dataclass(frozen=True)
class LogitDiff:
    """One engine output (or several, merged) against the reference's."""

    max_abs: float
    mean_abs: float
    max_rel: float
    reference_max_abs: float  # the reference's largest |logit|: the scale to read |Δ| against
    agreement: float  # share of pixels whose argmax class equals the reference's
    pixels: int
    values: int
    nonfinite: int  # engine values that are NaN or infinite
    reference_nonfinite: int
    within_tolerance: bool  # every value within atol + rtol * |reference| (True when logits are not checked)

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def compare_logits(reference: np.ndarray, engine: np.ndarray, criteria: Criteria) -> LogitDiff:
    """(N, C, H, W) float logits of both sides, same shape."""
    if reference.shape != engine.shape:
        raise ValueError(f"engine output shape {engine.shape} differs from PyTorch's {reference.shape}")
    expected, actual = torch.from_numpy(np.ascontiguousarray(reference)), torch.from_numpy(np.ascontiguousarray(engine))
    info = VerificationInfo.from_tensors("logits", expected, actual)
    nonfinite = int((~torch.isfinite(actual)).sum())
    reference_nonfinite = int((~torch.isfinite(expected)).sum())
    within = True
    if criteria.checks_logits:
        atol, rtol = criteria.tolerance()
        within = bool(torch.isclose(actual, expected, rtol=rtol, atol=atol).all())
    agree = int((expected.argmax(1) == actual.argmax(1)).sum())
    pixels = reference.shape[0] * reference.shape[2] * reference.shape[3]
    return LogitDiff(float(info.max_abs_diff), float((actual - expected).abs().mean()), float(info.max_rel_diff),
                     float(expected.abs().max()), agree / pixels, pixels, reference.size, nonfinite,
                     reference_nonfinite, within)


def merge(diffs: Sequence[LogitDiff]) -> LogitDiff:
    """Several outputs as one: maxima of the maxima, value- and pixel-weighted means."""
    values = sum(d.values for d in diffs)
    pixels = sum(d.pixels for d in diffs)
    return LogitDiff(_max(d.max_abs for d in diffs), sum(d.mean_abs * d.values for d in diffs) / values,
                     _max(d.max_rel for d in diffs), _max(d.reference_max_abs for d in diffs),
                     sum(d.agreement * d.pixels for d in diffs) / pixels, pixels,
                     values, sum(d.nonfinite for d in diffs), sum(d.reference_nonfinite for d in diffs),
                     all(d.within_tolerance for d in diffs))


def _max(values) -> float:
    """max() that propagates NaN (Python's max drops it depending on the order)."""
    values = list(values)
    return float("nan") if any(math.isnan(v) for v in values) else max(values)


@dataclass(frozen=True)
class MetricDeltas:
    """The engine's segmentation metrics against the reference's, in percentage points (engine - reference)."""

    reference: SegMetrics
    engine: SegMetrics

    @property
    def d_aAcc(self) -> float:
        return (self.engine.aAcc - self.reference.aAcc) * 100

    @property
    def d_mAcc(self) -> float:
        return (self.engine.mAcc - self.reference.mAcc) * 100

    @property
    def d_mIoU(self) -> float:
        return (self.engine.mIoU - self.reference.mIoU) * 100

    @property
    def d_class_iou(self) -> np.ndarray:
        return (self.engine.IoU - self.reference.IoU) * 100  # NaN where either side is undefined

    def to_json(self, classes: Sequence[str]) -> dict:
        def num(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return {"reference": {"aAcc": num(self.reference.aAcc), "mAcc": num(self.reference.mAcc),
                              "mIoU": num(self.reference.mIoU)},
                "engine": {"aAcc": num(self.engine.aAcc), "mAcc": num(self.engine.mAcc), "mIoU": num(self.engine.mIoU)},
                "d_aAcc": num(self.d_aAcc), "d_mAcc": num(self.d_mAcc), "d_mIoU": num(self.d_mIoU),
                "d_class_iou": {c: num(v) for c, v in zip(classes, self.d_class_iou, strict=True)}}


def output_failures(diff: LogitDiff, criteria: Criteria) -> list[str]:
    """Why one output (or the merged whole) fails the per-output criteria; empty when it passes."""
    failures = []
    if diff.reference_nonfinite:
        failures.append(f"PyTorch itself gives {diff.reference_nonfinite:,} non-finite logits: the weights are unusable")
    if diff.nonfinite:
        failures.append(f"the engine gives {diff.nonfinite:,} non-finite logits (NaN or inf)")
    if not diff.within_tolerance:
        atol, rtol = criteria.tolerance()
        failures.append(f"logits beyond |Δ| <= {atol:g} + {rtol:g}·|PyTorch| (max |Δ| {diff.max_abs:.3g}, "
                        f"max rel {diff.max_rel:.3g})")
    if criteria.min_agreement is not None and not diff.agreement >= criteria.min_agreement:
        failures.append(f"argmax agreement {diff.agreement:.4%} is below {criteria.min_agreement:.4%}")
    return failures


def metric_failures(deltas: MetricDeltas, criteria: Criteria) -> list[str]:
    if criteria.max_drop is not None and deltas.d_mIoU < -criteria.max_drop:
        return [f"mIoU {deltas.d_mIoU:+.3f} points vs PyTorch: more than the allowed drop of {criteria.max_drop:g}"]
    return []
