"""Accuracy-aware int8 on real Fast-SCNN at 64x128 (seeded random weights), with a deliberately tight budget.

Labels are the fp32 file's own predictions, so every pixel int8 changes is a real mIoU loss and a
zero budget can only be met by putting nodes back in float.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from segdeploy.benchmark.compare import model_factory
from segdeploy.cli import main
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.export.accuracy_aware import AccuracyAwareConfig, quantize_accuracy_aware
from segdeploy.export.onnx_export import export_onnx
from segdeploy.models import get_spec
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend

SPEC = get_spec("fastscnn_cityscapes")
HW = (64, 128)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("aware")
    fp32 = export_onnx(model_factory(SPEC, None, False)(), root / "fp32.onnx", (1, 3, *HW), dynamic_batch=True)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 3, *HW), dtype=np.float32)
    labels = list(OnnxRuntimeBackend(fp32)(images).argmax(1).astype(np.uint8))
    calibration = [rng.standard_normal((1, 3, *HW), dtype=np.float32) for _ in range(2)]
    return root, fp32, images, labels, calibration


def test_tight_budget_keeps_nodes_in_float_until_within_it(case):
    root, fp32, images, labels, calibration = case
    config = AccuracyAwareConfig(fp32, root / "aware.onnx", max_drop=0.0, group_size=40, time_loop=1, time_seconds=0.0)
    result = quantize_accuracy_aware(SPEC, config, calibration, images, labels, log=lambda _: None)
    first, last = result.steps[0], result.steps[-1]
    assert first.d_mIoU < 0 and first.float_nodes == 0, "full int8 lost nothing: the tight case was not built"
    assert len(result.steps) >= 2 and result.within_budget and last.d_mIoU >= -config.max_drop
    assert 0 < len(result.float_nodes) == last.float_nodes <= result.quantisable_nodes
    assert all(len(step.added) == 40 or step is last for step in result.steps[1:])
    # the most sensitive nodes went first, and every step's speed was measured
    assert result.float_nodes[0] == max(result.sensitivity_db, key=result.sensitivity_db.get)
    assert all(step.images_per_s > 0 for step in result.steps)
    report = json.loads((root / "aware.fallback.json").read_text())
    assert report["float_nodes"] == list(result.float_nodes) and len(report["steps"]) == len(result.steps)
    assert result.path.is_file()


def test_a_budget_it_cannot_meet_in_the_steps_allowed_is_reported(case):
    root, fp32, images, labels, calibration = case
    config = AccuracyAwareConfig(fp32, root / "short.onnx", max_drop=0.0, group_size=1, max_steps=1, time_loop=1, time_seconds=0.0)
    result = quantize_accuracy_aware(SPEC, config, calibration, images, labels, log=lambda _: None)
    assert not result.within_budget and len(result.steps) == 2 and result.steps[-1].float_nodes == 1
    assert result.steps[-1].d_mIoU < 0


def test_quantize_command_exits_3_when_the_budget_is_not_met(case, tmp_path, capsys):
    root, fp32, *_ = case
    generate_cityscapes_like(tmp_path / "data", "val", 2, size=HW, seed=3)
    out = tmp_path / "q.onnx"
    code = main(["quantize", "--model", SPEC.name, "--onnx", str(fp32), "--out", str(out), "--calib-images", "2",
                 "--max-drop", "0", "--data-root", str(tmp_path / "data"), "--images", "2", "--group-size", "1",
                 "--max-steps", "1"])
    captured = capsys.readouterr()
    if code == 0:  # int8 happened to score the synthetic labels as well as fp32: then it says so
        assert "within the 0-point budget" in captured.out
    else:
        assert code == 3 and "--max-drop" in captured.err and "nodes in float" in captured.err
    assert out.is_file() and out.with_suffix(".fallback.json").is_file() and "put back in float" in captured.out


def test_quantize_command_plain_int8(case, tmp_path, capsys):
    _, fp32, *_ = case
    out = tmp_path / "plain.onnx"
    code = main(["quantize", "--model", SPEC.name, "--onnx", str(fp32), "--out", str(out), "--calib-images", "1",
                 "--calibration", "percentile", "--input-size", "64x128"])
    assert code == 0 and out.is_file() and "percentile" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--max-drop", "-1"], "max-drop"),
    (["--max-drop", "0.5"], "needs --data-root"),
    (["--group-size", "-2"], "group-size"),
    (["--max-steps", "0"], "max-steps"),
    (["--calibration", "mse"], "invalid choice"),
])
def test_quantize_rejects_bad_flags_on_one_line(case, tmp_path, capsys, extra, words):
    _, fp32, *_ = case
    code = main(["quantize", "--model", SPEC.name, "--onnx", str(fp32), "--out", str(tmp_path / "x.onnx"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and words in err[0]


def test_quantize_rejects_bad_paths(case, tmp_path, capsys):
    _, fp32, *_ = case
    for argv in (["--onnx", str(tmp_path / "missing.onnx"), "--out", str(tmp_path / "x.onnx")],
                 ["--onnx", str(fp32), "--out", str(tmp_path)],  # a folder where a file is expected
                 ["--onnx", str(tmp_path), "--out", str(tmp_path / "x.onnx")]):
        assert main(["quantize", "--model", SPEC.name, *argv]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_quantize_needs_an_input_size_for_a_dynamic_file(case, tmp_path, capsys):
    _, fp32, *_ = case
    model = onnx.load(str(fp32))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    dynamic = tmp_path / "dyn.onnx"
    onnx.save(model, str(dynamic))
    code = main(["quantize", "--model", SPEC.name, "--onnx", str(dynamic), "--out", str(tmp_path / "q.onnx")])
    assert code == 2 and "--input-size" in capsys.readouterr().err
