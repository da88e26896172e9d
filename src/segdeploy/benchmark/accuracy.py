"""The accuracy gate: every engine scored on the same preprocessed images against PyTorch fp32.

Each transform of the deployment (export, simplification, int8) may cost accuracy; this measures
what it cost on labelled images, so a faster engine is only taken when it is still the same model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segdeploy.data.datasets import list_samples, read_label
from segdeploy.data.images import read_rgb
from segdeploy.data.transforms import normalize
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import SegMetrics, segmentation_metrics
from segdeploy.inference.predict import predict_logits
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.report import metrics_json
from segdeploy.runtime.backend import Backend

DEFAULT_MAX_DROP = 0.5  # mIoU percentage points an engine may lose against PyTorch fp32


@dataclass(frozen=True)
class EngineAccuracy:
    """One engine vs the reference, in percentage points (positive Δ: the engine scores higher)."""

    engine: str
    metrics: SegMetrics
    d_aAcc: float
    d_mAcc: float
    d_mIoU: float
    d_class_iou: tuple[float, ...]  # per class; NaN where either side is undefined
    pixel_agreement: float  # fraction of pixels whose predicted class equals the reference's
    max_abs_dlogit: float
    max_drop: float

    @property
    def passed(self) -> bool:
        return not (self.d_mIoU < -self.max_drop)

    def to_json(self, classes: tuple[str, ...]) -> dict:
        return {"engine": self.engine, "passed": self.passed, "max_drop": self.max_drop,
                "d_aAcc": self.d_aAcc, "d_mAcc": self.d_mAcc, "d_mIoU": self.d_mIoU,
                "d_class_iou": {c: (None if math.isnan(d) else d) for c, d in zip(classes, self.d_class_iou)},
                "pixel_agreement": self.pixel_agreement, "max_abs_dlogit": self.max_abs_dlogit,
                "metrics": metrics_json(self.metrics, classes)}


def labelled_images(spec: ModelSpec, data_root: Path, split: str, hw: tuple[int, int], limit: int
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The first `limit` labelled images of `split`, normalised to (N, 3, H, W), and their labels.

    Images must already be the engine's input size: scoring at another size would measure the
    resize, not the engine.
    """
    samples = list_samples(spec.dataset, data_root, split)[:limit]
    if not samples:
        raise SegdeployError.at(data_root, f"no labelled {split} images")
    images, labels = [], []
    for sample in samples:
        rgb = read_rgb(sample.image_path)
        if rgb.shape[:2] != tuple(hw):
            raise SegdeployError.at(sample.image_path, f"is {rgb.shape[0]}x{rgb.shape[1]}, the engines take "
                                    f"{hw[0]}x{hw[1]}: pass --input-size {rgb.shape[0]}x{rgb.shape[1]}")
        images.append(normalize(rgb, spec.preprocess))
        labels.append(read_label(spec.dataset, sample))
    return np.stack(images), labels


def score_engines(spec: ModelSpec, reference: Backend, engines: list[Backend], images: np.ndarray,
                  labels: list[np.ndarray], max_drop: float = DEFAULT_MAX_DROP, batch: int = 1
                  ) -> tuple[SegMetrics, list[EngineAccuracy]]:
    """Metrics of `reference` and of each engine vs it, on the same images."""
    ref = reference_logits(spec, reference, images, batch)
    base = prediction_metrics(spec, [r.argmax(1) for r in ref], labels)
    return base, [score_engine(spec, engine, images, labels, ref, base, max_drop, batch) for engine in engines]


def reference_logits(spec: ModelSpec, reference: Backend, images: np.ndarray, batch: int = 1) -> list[np.ndarray]:
    """The reference's logits, batch by batch: kept, so engines can be scored one at a time."""
    return [predict_logits(spec, reference, images[start:start + batch]) for start in range(0, len(images), batch)]


def score_engine(spec: ModelSpec, engine: Backend, images: np.ndarray, labels: list[np.ndarray],
                 reference: list[np.ndarray], base: SegMetrics, max_drop: float = DEFAULT_MAX_DROP,
                 batch: int = 1) -> EngineAccuracy:
    """One engine vs the reference's logits (`reference_logits`) and metrics."""
    preds, agree, pixels, max_dlogit = [], 0, 0, 0.0
    for i, ref in enumerate(reference):
        logits = predict_logits(spec, engine, images[i * batch:(i + 1) * batch])  # (N, C, H, W)
        pred = logits.argmax(1)
        preds.append(pred)
        agree += np.count_nonzero(pred == ref.argmax(1))
        pixels += pred.size
        max_dlogit = max(max_dlogit, float(np.abs(logits - ref).max()))
    return _versus(engine.name, prediction_metrics(spec, preds, labels), base, agree / pixels, max_dlogit, max_drop)


def prediction_metrics(spec: ModelSpec, preds: list[np.ndarray], labels: list[np.ndarray]) -> SegMetrics:
    cm = ConfusionMatrix(spec.num_classes)
    for pred, label in zip((p for batch in preds for p in batch), labels):
        cm.update(pred, label)
    return segmentation_metrics(cm)


def _versus(name: str, m: SegMetrics, base: SegMetrics, agreement: float, max_dlogit: float,
            max_drop: float) -> EngineAccuracy:
    return EngineAccuracy(name, m, (m.aAcc - base.aAcc) * 100, (m.mAcc - base.mAcc) * 100,
                          (m.mIoU - base.mIoU) * 100, tuple(float(v) for v in (m.IoU - base.IoU) * 100),
                          float(agreement), float(max_dlogit), max_drop)
