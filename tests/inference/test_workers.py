"""Worker planning: the GIL probe, the sizing rule, and the same files from processes as from threads."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from segdeploy.cli import main
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.inference.inputs import items_from_dataset
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.inference.workers import WorkerPlan, gil_free_share, plan_workers
from segdeploy.models import MODELS
from segdeploy.runtime.torch_backend import TorchBackend


def test_the_probe_tells_a_gil_holding_call_from_one_that_releases_it():
    total, held = gil_free_share(lambda: sum(range(20_000_000)))  # one C loop: no bytecode, no GIL switch
    _, released = gil_free_share(lambda: time.sleep(0.1))
    assert total == sum(range(20_000_000))
    assert held < 0.15 < 0.4 < released


@pytest.mark.parametrize(("load_s", "gil_free", "infer_s", "cores", "picklable", "kind", "count", "why"), [
    (0.050, 0.10, 0.080, 2, True, "processes", 2, "holds the GIL 90% of the time, for 0.56 of the engine's"),
    # pyspng on a 2048x1024 PNG in front of Fast-SCNN: held, but for a quarter of the engine's time
    (0.050, 0.13, 0.178, 2, True, "threads", 1, "for 0.24 of the engine's time: threads keep up"),
    (0.050, 0.10, 0.080, 2, False, "threads", 2, "cannot be sent to processes"),
    (0.050, 0.90, 0.080, 2, True, "threads", 2, "leaves the GIL free 90%"),
    (0.004, 0.10, 0.950, 2, True, "threads", 1, "ceil(2 x 0.00)"),  # GIL held, but for ~0.4 % of the engine time
    (0.300, 0.90, 0.050, 4, True, "threads", 4, "capped at the cores"),
])
def test_plan_follows_the_measured_costs_and_says_why(load_s, gil_free, infer_s, cores, picklable, kind, count, why):
    plan = plan_workers(load_s, gil_free, infer_s, cores, picklable)
    assert (plan.kind, plan.count) == (kind, count)
    assert why in plan.line() and plan.line().startswith(f"[workers] {kind} x {count}: ")


def test_processes_and_threads_write_the_same_bytes_and_score_the_same(tmp_path):
    spec = MODELS["fastscnn_cityscapes"]
    generate_cityscapes_like(tmp_path / "data", "val", 5, size=(64, 128), seed=8)
    torch.manual_seed(0)
    backend = TorchBackend(spec.build())
    items = items_from_dataset(spec, tmp_path / "data", "val")
    runs = {}
    for plan in (WorkerPlan("processes", 2), WorkerPlan("threads", 1), None):
        confusion = ConfusionMatrix(spec.num_classes)
        result = run_inference(spec, backend, items, InferConfig(tmp_path / "out", batch=2, run_name=str(plan)),
                               show_progress=False, confusion=confusion, workers=plan)
        files = {name: (result.run_dir / name).read_bytes() for name in sorted(result.outputs.values())}
        runs[str(plan)] = files, confusion.matrix
        assert result.pipeline.plan.kind == (plan.kind if plan else result.pipeline.plan.kind)
    (files, matrix), *others = runs.values()
    assert len(files) == 5 and matrix.sum() > 0
    for other_files, other_matrix in others:
        assert other_files == files
        np.testing.assert_array_equal(other_matrix, matrix)


@pytest.mark.parametrize("value", ["0", "threads:0", "processes:-1", "fast", "threads:", "processes:two"])
def test_a_bad_workers_value_is_refused_before_any_work(value, tmp_path, capsys):
    code = main(["infer", "--model", "fastscnn_cityscapes", "--data-root", str(tmp_path), "--output",
                 str(tmp_path / "out"), "--workers", value])
    err = capsys.readouterr().err
    assert code == 2 and "--workers" in err and "expected auto, threads:N or processes:N" in err
    assert not (tmp_path / "out").exists()


def test_workers_and_folds_are_refused_outside_e2e_bench(capsys):
    assert main(["bench", "--model", "fastscnn_cityscapes", "--workers", "threads:2"]) == 2
    assert "--workers: applies to --e2e runs only" in capsys.readouterr().err
