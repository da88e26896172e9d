"""Each engine's accuracy on the same labelled images, through the very code path `segdeploy infer` runs.

The scored images go through the model's preprocessing variant, the engine, the variant's
post-process and the writer of `infer` (class maps as PNG), with the confusion matrix filled while
predicting; PyTorch fp32's class maps are the reference every other engine's pixels are compared with.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segdeploy.data.binio import output_name
from segdeploy.data.cityscapes import Sample
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import read_label
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import SegMetrics, segmentation_metrics
from segdeploy.inference.inputs import InputItem, items_from_dataset
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.backend import Backend


@dataclass(frozen=True)
class ScoredSet:
    """The first `images` labelled samples of a split, and the rest (int8 calibration draws from those)."""

    scored: list[Sample]
    others: list[Sample]
    items: list[InputItem]  # the scored samples as `infer` items, same order


def scored_set(spec: ModelSpec, data_root: Path, split: str, variant: str, images: int) -> ScoredSet:
    samples = list_samples(spec.dataset, data_root, split, require_labels=False)
    labelled = [s for s in samples if s.label_path is not None]
    if not labelled:
        raise SegdeployError.at(data_root, f"no labelled {split} images: the accuracy gate needs labels")
    scored = labelled[:images]
    stems = {s.stem for s in scored}
    items = {item.stem: item for item in items_from_dataset(spec, data_root, split, variant)}
    return ScoredSet(scored, [s for s in samples if s.stem not in stems], [items[s.stem] for s in scored])


@dataclass(frozen=True)
class EngineScore:
    """One engine's pass over the scored images."""

    engine: str
    confusion: ConfusionMatrix
    images: int
    pixel_agreement: float  # share of pixels given the class PyTorch fp32 gives them (1 for torch)
    seconds: float  # the whole pass: read, preprocess, infer, post-process, write
    detail: str = ""  # what ran (file, options)
    torch_options: dict[str, bool] | None = None  # torch-opt's tuned options, to rebuild it

    @property
    def metrics(self) -> SegMetrics:
        return segmentation_metrics(self.confusion)

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "confusion": self.confusion.to_json(), "images": self.images,
                "pixel_agreement": self.pixel_agreement, "seconds": self.seconds, "detail": self.detail,
                "torch_options": self.torch_options}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> EngineScore:
        return cls(obj["engine"], ConfusionMatrix.from_json(obj["confusion"]), int(obj["images"]),
                   float(obj["pixel_agreement"]), float(obj["seconds"]), obj["detail"], obj["torch_options"])


def score_engine(spec: ModelSpec, backend: Backend, scored: ScoredSet, predictions: Path, batch: int,
                 reference: Path | None) -> tuple[EngineScore, Path]:
    """Predict the scored images into `predictions/<engine>/`, scoring them as they are written;
    compare each pixel with the class maps in `reference` (PyTorch fp32's folder, None for torch)."""
    run_dir = predictions / backend.name
    shutil.rmtree(run_dir, ignore_errors=True)  # never "resume" another engine's or run's files
    confusion = ConfusionMatrix(spec.num_classes)
    result = run_inference(spec, backend, scored.items, InferConfig(output=predictions, batch=batch, outfmt="png",
                                                                    run_name=backend.name),
                           show_progress=False, confusion=confusion)
    agreement = 1.0 if reference is None else pixel_agreement(run_dir, reference, [s.stem for s in scored.scored])
    return EngineScore(backend.name, confusion, len(scored.items), agreement, result.seconds), run_dir


def class_map(run_dir: Path, stem: str) -> np.ndarray:
    """A class map `score_engine` wrote, (H, W) uint8."""
    return read_label(run_dir / output_name(stem, 0, "png"))


def pixel_agreement(run_dir: Path, reference: Path, stems: list[str]) -> float:
    same = total = 0
    for stem in stems:
        ours, theirs = class_map(run_dir, stem), class_map(reference, stem)
        same += int(np.count_nonzero(ours == theirs))
        total += ours.size
    return same / total if total else float("nan")
