"""`segdeploy evaluate`: score a folder of predictions (ours or ais_bench's) against a dataset.

Each sample's outputs are post-processed by the chosen variant, whose geometry comes from the
image file's header (no pixels decoded): a class map already at label resolution is used as is,
raw network outputs (a letterboxed class map, resized logits, per-window logits) are mapped back.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segdeploy.data.binio import find_predictions, read_output
from segdeploy.data.cityscapes import Sample
from segdeploy.data.datasets import list_samples, read_label_of_size
from segdeploy.data.images import image_size
from segdeploy.data.variants import Geometry, geometry_for, get_variant, input_stems, to_class_map
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.cityscapes_official import (
    OfficialScores,
    core_name,
    evaluate_official,
    write_prediction,
)
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.labels import reduce_zero_label
from segdeploy.evaluation.metrics import SegMetrics, segmentation_metrics
from segdeploy.models.spec import ModelSpec, Variant
from segdeploy.reporting import plots
from segdeploy.reporting.atomic import write_atomic, write_bytes_atomic
from segdeploy.reporting.progress import progress_bar

_LABEL_IDS = "_gtFine_labelIds.png"


@dataclass(frozen=True)
class EvalResult:
    metrics: SegMetrics
    confusion: ConfusionMatrix
    images: int  # images scored
    total: int  # images in the split
    variant: str
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "error"} per image left out
    official: OfficialScores | None = None  # cityscapesscripts' scores of the same predictions


def evaluate_folder(spec: ModelSpec, pred_dir: Path, data_root: Path, split: str = "val", variant: str | None = None,
                    skip_bad: bool = False, official: bool = False, show_progress: bool = True,
                    reduce_zero_label: bool = False) -> EvalResult:
    """Accumulate one confusion matrix over every labelled image of `split` and compute the metrics.

    Predictions are `<stem>_0.*` (or the legacy `<stem>_1.*`), per window `<stem>_<k>_0.*`; class maps
    of any integer dtype or logits of `num_classes` channels. With `skip_bad`, an image without a
    usable label or prediction is recorded and left out; `images` says how many were scored.
    `official` (Cityscapes) also runs the official evaluator on the same predictions.
    `reduce_zero_label` maps every label as mmseg does before scoring (0 ignored, others -1).
    """
    chosen = get_variant(spec, variant)
    if official and spec.dataset != "cityscapes":
        raise SegdeployError.at("--metric cityscapes", f"needs a Cityscapes model, {spec.name} is {spec.dataset}")
    if official and reduce_zero_label:
        raise SegdeployError.at("--reduce-zero-label", "the official Cityscapes evaluator reads the labels unchanged; "
                                                      "drop one of --reduce-zero-label and --metric cityscapes")
    samples = list_samples(spec.dataset, data_root, split, require_labels=not skip_bad)
    predictions = find_predictions(pred_dir)
    missing = [s.stem for s in samples if s.stem not in predictions and f"{s.stem}_0" not in predictions]
    if missing and not skip_bad:
        raise SegdeployError.at(pred_dir, f"no prediction for {len(missing)} of {len(samples)} images, "
                                          f"e.g. {missing[0]}")
    with _results_dir(official) as results_dir:
        confusion, skipped, gt_files = _accumulate(spec, chosen, samples, predictions, pred_dir, results_dir,
                                                   skip_bad, show_progress, reduce_zero_label)
        if len(skipped) == len(samples):
            raise SegdeployError.at(pred_dir, f"none of the {len(samples)} images could be scored, "
                                              f"e.g. {skipped[0]['error']}")
        scores = evaluate_official(gt_files, results_dir) if results_dir is not None else None
    return EvalResult(segmentation_metrics(confusion), confusion, len(samples) - len(skipped), len(samples),
                      chosen.name, skipped, scores)


def _accumulate(spec: ModelSpec, variant: Variant, samples: list[Sample], predictions: dict[str, Path],
                pred_dir: Path, results_dir: Path | None, skip_bad: bool, show_progress: bool,
                reduce_zero: bool) -> tuple[ConfusionMatrix, list[dict[str, str]], list[Path]]:
    """The confusion matrix of every scorable sample, the skipped ones, and (for the official
    evaluator, when `results_dir` is given) the ground-truth files of the scored ones."""
    confusion = ConfusionMatrix(spec.num_classes)
    skipped: list[dict[str, str]] = []
    gt_files: list[Path] = []
    with progress_bar("evaluate", len(samples), enabled=show_progress) as advance:
        for sample in samples:
            try:
                class_map, label = _score_one(spec, variant, sample, predictions, pred_dir, reduce_zero)
                if results_dir is not None:
                    gt_files.append(_write_official(results_dir, sample, class_map))
            except SegdeployError as err:
                if not skip_bad:
                    raise
                skipped.append({"file": str(sample.image_path), "error": str(err)})
            else:
                confusion.update(class_map, label)
            advance(1)
    return confusion, skipped, gt_files


def _score_one(spec: ModelSpec, variant: Variant, sample: Sample, predictions: dict[str, Path],
               pred_dir: Path, reduce_zero: bool) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, label) of one sample, both (H, W) at label resolution."""
    image_hw = image_size(sample.image_path)
    label = read_label_of_size(spec.dataset, sample, image_hw)
    if reduce_zero:
        label = reduce_zero_label(label)
    geometry = geometry_for(spec, variant, image_hw)
    outputs, where = _read_outputs(spec, geometry, sample.stem, predictions, pred_dir)
    return to_class_map(spec, geometry, outputs, where), label


def _read_outputs(spec: ModelSpec, geometry: Geometry, stem: str, predictions: dict[str, Path],
                  pred_dir: Path) -> tuple[list[np.ndarray], Path]:
    """The sample's output file(s): one `<stem>` file, or one `<stem>_<k>` file per window input."""
    if stem in predictions:
        # Post-processed (label size) or, for a one-input variant, the raw output (input size).
        shapes = [geometry.image_hw] + (list(geometry.input_hws) if len(geometry.input_hws) == 1 else [])
        path = predictions[stem]
        return [read_output(path, list(dict.fromkeys(shapes)), spec.num_classes)], path
    names = input_stems(stem, geometry)
    absent = [name for name in names if name not in predictions]
    if len(names) == 1 or absent:
        raise SegdeployError.at(pred_dir, f"no prediction for {absent[0] if absent else stem} "
                                          f"(variant {geometry.variant} expects {len(names)} output file(s))")
    outputs = [read_output(predictions[name], [hw], spec.num_classes) for name, hw in zip(names, geometry.input_hws)]
    return outputs, predictions[names[0]]


@contextlib.contextmanager
def _results_dir(official: bool):
    """A scratch folder for the official evaluator's label-id PNGs, or None when it is not run."""
    if not official:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="segdeploy-cs-results-") as folder:
        yield Path(folder)


def _write_official(results_dir: Path, sample: Sample, class_map: np.ndarray) -> Path:
    """Write the prediction as label ids for the official evaluator; return its ground-truth labelIds file."""
    assert sample.label_path is not None
    name = sample.label_path.name
    gt = sample.label_path.with_name(name[: name.index("_gtFine_")] + _LABEL_IDS)
    if not gt.is_file():
        raise SegdeployError.at(gt, "missing: the official Cityscapes evaluator reads labelIds ground truth")
    write_prediction(results_dir, core_name(gt), class_map)
    return gt



def save_confusion(confusion: ConfusionMatrix, classes: tuple[str, ...], stem: Path, plot: bool = False,
                   title: str = "") -> list[Path]:
    """`<stem>.npy`: the (C + 1, C + 1) int64 counts (rows label, columns prediction, index C out of
    range); with `plot`, `<stem>.png`: its in-range part, each row as a share of the label's pixels."""
    written = [write_atomic(stem.with_name(f"{stem.name}.npy"), lambda f: np.save(f, confusion.matrix))]
    if plot:
        png = plots.confusion_matrix(confusion.matrix, classes, title or "confusion matrix")
        written.append(write_bytes_atomic(stem.with_name(f"{stem.name}.png"), png))
    return written
