"""`segdeploy evaluate`: score a folder of predictions (ours or ais_bench's) against a dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import SegMetrics, segmentation_metrics
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.progress import progress_bar


@dataclass(frozen=True)
class EvalResult:
    metrics: SegMetrics
    confusion: ConfusionMatrix
    images: int


def evaluate_folder(spec: ModelSpec, pred_dir: Path, data_root: Path, split: str = "val",
                    show_progress: bool = True) -> EvalResult:
    """Accumulate one confusion matrix over every labelled image of `split` and compute the metrics.

    Each prediction (`<stem>_0.*`, or the legacy `<stem>_1.*`) is read at its label's resolution;
    a class map of any integer dtype or logits of `num_classes` channels are both accepted.
    """
    from segdeploy.data.binio import find_predictions, read_prediction
    from segdeploy.data.datasets import list_samples, read_label

    samples = list_samples(spec.dataset, data_root, split, require_labels=True)
    predictions = find_predictions(pred_dir)
    missing = [s.stem for s in samples if s.stem not in predictions]
    if missing:
        raise SegdeployError.at(pred_dir, f"no prediction for {len(missing)} of {len(samples)} images, "
                                          f"e.g. {missing[0]}")
    confusion = ConfusionMatrix(spec.num_classes)
    with progress_bar("evaluate", len(samples), enabled=show_progress) as advance:
        for sample in samples:
            label = read_label(spec.dataset, sample)
            prediction = read_prediction(predictions[sample.stem], label.shape, spec.num_classes)
            confusion.update(prediction, label)
            advance(1)
    return EvalResult(segmentation_metrics(confusion), confusion, len(samples))
