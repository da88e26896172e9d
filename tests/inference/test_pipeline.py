"""The overlapped pipeline: order, batch composition, errors, per-stage timing; infer --evaluate."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.evaluate import evaluate_folder
from segdeploy.inference.inputs import items_from_dataset
from segdeploy.inference.pipeline import STAGES, Stages, run_pipeline
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.inference.workers import WorkerPlan
from segdeploy.models import MODELS
from segdeploy.runtime.torch_backend import TorchBackend


def _stages(batches: list, done: list, fail_on: int | None = None) -> Stages:
    def read(i: int) -> int:
        if i == fail_on:
            raise ValueError(f"cannot read {i}")
        return i

    def infer(items: list, loaded: list) -> list:
        batches.append(list(items))
        return [x * 10 for x in loaded]

    return Stages(read=read, preprocess=lambda item, raw: raw + 0.5, infer=infer,
                  postprocess=lambda item, loaded, out: done.append((item, out, threading.current_thread().name)))


def test_batches_are_consecutive_and_postprocess_runs_in_order_off_the_main_thread():
    batches, done = [], []
    result = run_pipeline(list(range(11)), _stages(batches, done), batch=4, workers=WorkerPlan("threads", 3), prefetch=5)
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    assert [(i, out) for i, out, _ in done] == [(i, (i + 0.5) * 10) for i in range(11)]
    assert {name for _, _, name in done} != {threading.main_thread().name}
    assert set(result.stages) == set(STAGES) and all(s.items == 11 for s in result.stages.values())
    assert result.bottleneck in STAGES and result.lines()[0].startswith("[e2e] throughput")


def test_an_error_in_a_worker_stops_the_run_and_keeps_what_was_finished():
    batches, done = [], []
    with pytest.raises(ValueError, match="cannot read 6"):
        run_pipeline(list(range(12)), _stages(batches, done, fail_on=6), batch=2, workers=WorkerPlan("threads", 2), prefetch=2)
    assert [i for i, _, _ in done] == [0, 1, 2, 3, 4, 5]


def test_infer_evaluate_scores_like_evaluating_the_written_folder(tmp_path):
    spec = MODELS["fastscnn_cityscapes"]
    generate_cityscapes_like(tmp_path / "data", "val", 5, size=(64, 128), seed=7)
    torch.manual_seed(0)
    backend = TorchBackend(spec.build())
    confusion = ConfusionMatrix(spec.num_classes)
    result = run_inference(spec, backend, items_from_dataset(spec, tmp_path / "data", "val"),
                           InferConfig(tmp_path / "pred", batch=2), show_progress=False, confusion=confusion)
    afterwards = evaluate_folder(spec, result.run_dir, tmp_path / "data", show_progress=False)
    np.testing.assert_array_equal(confusion.matrix, afterwards.confusion.matrix)
    assert confusion.matrix.sum() > 0.9 * 5 * 64 * 128  # every labelled pixel of the 5 images was scored
    assert result.pipeline is not None and result.pipeline.items == 5
