"""`segdeploy bench`: engines side by side, int8 quantisation, the accuracy gate, skipped batches.

Real Fast-SCNN at 64x128 (its full architecture: it has no tiny variant), real ONNX Runtime and
int8 files; no assertion on speed.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest

from segdeploy.benchmark.accuracy import labelled_images, score_engines
from segdeploy.benchmark.compare import BenchConfig, model_factory, prepare_engine_files, run_bench
from segdeploy.benchmark.engines import build_engine
from segdeploy.cli import main
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.export.quantize import count_qdq_nodes
from segdeploy.models import get_spec

SPEC = get_spec("fastscnn_cityscapes")
HW = (64, 128)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Labelled 64x128 scenes and the fp32 / slim / int8 files of seeded random Fast-SCNN weights."""
    root = tmp_path_factory.mktemp("bench")
    generate_cityscapes_like(root / "data", "val", 3, size=HW, seed=3)
    config = BenchConfig(engines=(), input_hw=HW, work_dir=root / "work", calib_images=2)
    build = model_factory(SPEC, None, False)
    files = prepare_engine_files(SPEC, config, HW, build, {"int8"}, log=lambda _: None)
    return root, config, build, files


def test_int8_file_is_qdq_and_its_accuracy_is_measured(work):
    root, _, build, files = work
    quantize, dequantize = count_qdq_nodes(files.int8)
    assert quantize > 10 and dequantize > 10
    images, labels = labelled_images(SPEC, root / "data", "val", HW, limit=3)
    engines = [build_engine(n, build, files, images[:1]).backend for n in ("onnxruntime", "onnxruntime-int8")]
    base, (fp32, int8) = score_engines(SPEC, build_engine("torch", build, files, images[:1]).backend, engines,
                                       images, labels)
    assert not math.isnan(base.mIoU) and fp32.d_mIoU == pytest.approx(0, abs=1e-6) and fp32.passed
    assert math.isfinite(int8.d_mIoU) and 0 < int8.max_abs_dlogit and 0.5 < int8.pixel_agreement <= 1


def test_gate_fails_an_engine_that_loses_more_than_max_drop(work):
    """Labels = PyTorch's own predictions, so every pixel int8 changes is a real mIoU loss."""
    _, _, build, files = work
    images = np.random.default_rng(1).standard_normal((2, 3, *HW), dtype=np.float32)
    reference = build_engine("torch", build, files, images[:1]).backend
    labels = list(reference(images).argmax(1).astype(np.uint8))
    engines = [build_engine(n, build, files, images[:1]).backend for n in ("onnxruntime", "onnxruntime-int8")]
    _, (fp32, int8) = score_engines(SPEC, reference, engines, images, labels, max_drop=0.01)
    assert fp32.passed and fp32.pixel_agreement == 1.0
    assert int8.pixel_agreement < 1.0, "int8 matched fp32 everywhere: the failing case was not constructed"
    assert int8.d_mIoU < -0.01 and not int8.passed


def test_multi_engine_table_and_json(work, tmp_path, capsys):
    root, config, _, _ = work
    out = tmp_path / "bench.json"
    code = main(["bench", "--model", SPEC.name, "--engine", "torch,onnxruntime,onnxruntime-int8,openvino",
                 "--batch", "1,2", "--warmup", "1", "--loop", "2", "--input-size", "64x128",
                 "--work-dir", str(config.work_dir), "--calib-images", "2", "--json", str(out),
                 "--accuracy", "--data-root", str(root / "data"), "--max-drop", "100"])
    printed = capsys.readouterr().out
    assert code == 0 and "× torch" in printed and "images per second of wall time" in printed
    result = json.loads(out.read_text())
    rows = {(r["engine"], r["batch"]): r for r in result["results"]}
    assert set(rows) == {(e, b) for e in ("torch", "onnxruntime", "onnxruntime-int8", "openvino") for b in (1, 2)}
    assert all(rows[("torch", b)]["ratio_to_torch"] == pytest.approx(1.0) for b in (1, 2))
    for (engine, _), row in rows.items():
        if engine == "openvino" and row["status"] == "skipped":
            assert "not installed" in row["reason"]
            continue
        assert row["status"] == "ok" and row["samples_per_s"] > 0 and row["ratio_to_torch"] > 0
        assert 0 < row["percent_of_peak"] and row["peak_rss_mb"] > 0
    assert result["matmul_peak"]["gflops"] > 0
    ladder = [e["engine"] for e in result["accuracy"]["engines"]]
    assert ladder[:3] == ["onnxruntime", "onnxruntime-slim", "onnxruntime-int8"] and result["accuracy"]["failed"] == []


def test_a_batch_that_cannot_run_is_skipped_and_the_sweep_goes_on(work, tmp_path):
    _, _, _, files = work
    model = onnx.load(str(files.fp32))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # as `segdeploy export --batch 1` makes it
    fixed = tmp_path / "bs1.onnx"
    onnx.save(model, str(fixed))
    config = BenchConfig(engines=("onnxruntime", "torch"), batches=(2, 1), warmup=1, loop=2, onnx=fixed,
                         input_hw=HW, work_dir=tmp_path / "work", show_progress=False, peak_n=256)
    report = run_bench(SPEC, config, log=lambda _: None)
    status = {(r.timing.engine, r.timing.batch): r.timing for r in report.rows}
    assert status[("onnxruntime", 2)].status == "skipped" and "batch 1 only" in status[("onnxruntime", 2)].reason
    assert status[("onnxruntime", 1)].status == "ok"
    assert status[("torch", 2)].status == "ok" and status[("torch", 1)].status == "ok"


def test_e2e_reports_every_stage_next_to_pure_inference(work, capsys):
    root, config, _, _ = work
    code = main(["bench", "--model", SPEC.name, "--engine", "onnxruntime", "--e2e", "--data-root",
                 str(root / "data"), "--batch", "1,2", "--warmup", "1", "--loop", "2", "--work-dir",
                 str(config.work_dir), "--json", str(root / "e2e.json")])
    out = capsys.readouterr().out
    assert code == 0
    for stage in ("[e2e]", "[cpu bound]", "[workers]", "[data read]", "[preprocess]", "[inference]",
                  "[postprocess]", "[write]"):
        assert stage in out
    rows = json.loads((root / "e2e.json").read_text())["e2e"]
    assert [r["batch"] for r in rows] == [1, 2]
    assert all(r["e2e_images_per_s"] > 0 and r["pure_images_per_s"] > 0 for r in rows)
    assert rows[0]["mIoU"] == pytest.approx(rows[1]["mIoU"])  # the batch size does not change predictions
    for row in rows:  # the bound is the cores over the stages' CPU time, and the run cannot beat it by much
        stages_cpu = sum(s["cpu_ms_per_image"] for s in row["stages"].values())
        assert row["cpu_ms_per_image"] == pytest.approx(stages_cpu)
        assert row["cpu_bound_images_per_s"] == pytest.approx(row["cores"] * 1000 / stages_cpu)
        assert row["stages"]["inference"]["cpu_ms_per_image"] > 0 and row["stages"]["preprocess"]["cpu_ms_per_image"] > 0


def test_e2e_under_torchrun_reports_each_process_and_the_total(work, tmp_path, capsys, torchrun):
    root, config, _, _ = work
    args = ["bench", "--model", SPEC.name, "--engine", "onnxruntime", "--e2e", "--data-root", str(root / "data"),
            "--batch", "1", "--warmup", "1", "--loop", "2", "--work-dir", str(config.work_dir)]
    assert main(["--threads", "1", *args, "--json", str(tmp_path / "one.json")]) == 0
    capsys.readouterr()
    proc = torchrun(["--standalone", "--nproc-per-node", "2"], ["--threads", "1", *args, "--json", str(tmp_path / "two.json")])
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out[-3000:]
    (one,) = json.loads((tmp_path / "one.json").read_text())["e2e"]
    result = json.loads((tmp_path / "two.json").read_text())
    (two,) = result["e2e"]
    assert result["world_size"] == 2 and [r["rank"] for r in two["ranks"]] == [0, 1]
    assert two["pure_images_per_s"] == pytest.approx(sum(r["pure_images_per_s"] for r in two["ranks"]))
    assert two["e2e_images_per_s"] > 0 and all(r["e2e_images_per_s"] > 0 for r in two["ranks"])
    assert two["mIoU"] == one["mIoU"]  # the 3 images shared out over 2 processes, scored once each
    assert "2 processes: images/s of each and of all" in out
    assert not list(config.work_dir.glob(".e2e-*"))  # the throw-away predictions are removed


def test_e2e_on_the_file_with_preprocessing_and_argmax_folded_scores_the_same(work, capsys):
    root, config, _, _ = work
    results = {}
    for name, folds in (("plain", []), ("folded", ["--fold-preprocess", "--fold-argmax"])):
        out = root / f"e2e_{name}.json"
        assert main(["bench", "--model", SPEC.name, "--engine", "onnxruntime", "--e2e", "--data-root", str(root / "data"),
                     "--warmup", "1", "--loop", "2", "--work-dir", str(config.work_dir), "--json", str(out),
                     "--workers", "threads:1", *folds]) == 0
        (results[name],) = json.loads(out.read_text())["e2e"]
    assert "uint8 NHWC RGB pixels -> int32 class maps" in capsys.readouterr().out
    assert results["folded"]["engine_io"] == "uint8 NHWC RGB pixels -> int32 class maps"
    assert results["folded"]["mIoU"] == results["plain"]["mIoU"]  # the same predictions, bit for bit
    assert main(["bench", "--model", SPEC.name, "--engine", "torch", "--e2e", "--data-root", str(root / "data"),
                 "--fold-argmax"]) == 2
    assert "applies to exported files, not to engine(s) torch" in capsys.readouterr().err
