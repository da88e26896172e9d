"""The precision ladder: every engine name builds and runs, bf16 timings are finite, calibration methods
differ, Segmenter's int8 keeps softmax/LayerNorm in float, OpenVINO's throughput timing counts as
benchmark_app does. Real Fast-SCNN at 64x128 and the tiny Segmenter; no assertion on speed.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
import torch

from segdeploy.benchmark.artifacts import FileRecipe, prepare_files
from segdeploy.benchmark.catalog import ENGINES
from segdeploy.benchmark.compare import BenchConfig, model_factory, prepare_engine_files, run_bench
from segdeploy.benchmark.engines import build_engine, files_needed, unavailable_reason
from segdeploy.benchmark.profile import openvino_op_profile
from segdeploy.benchmark.timing import time_batches
from segdeploy.cli import main
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import read_rgb
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.transforms import normalize
from segdeploy.errors import SegdeployError
from segdeploy.export import quantize as quantize_module
from segdeploy.export.onnx_export import ATTENTION_OPSET, export_onnx
from segdeploy.export.quantize import Int8Settings, quantize_int8
from segdeploy.models import build_model, get_spec
from segdeploy.runtime.machine import KERNEL_FLAGS, machine_info, physical_cores
from segdeploy.runtime.torch_backend import TorchOptions, bf16_supported, reduced_candidates, tune_torch
from segdeploy.training.checkpoint import save_state_dict

SPEC = get_spec("fastscnn_cityscapes")
HW = (64, 128)
# Tuned torch engines are built with fixed options here (tuning compiles; tested once below).
FIXED_TORCH = {"torch-opt": TorchOptions(channels_last=True), "torch-bf16": TorchOptions(precision="bf16"),
               "torch-fp16": TorchOptions(precision="fp16")}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Labelled scenes and every file the engines run, of seeded random Fast-SCNN weights."""
    root = tmp_path_factory.mktemp("precision")
    generate_cityscapes_like(root / "data", "val", 2, size=HW, seed=3)
    config = BenchConfig(engines=(), input_hw=HW, work_dir=root / "work", calib_images=2,
                         fallback_root=root / "data", fallback_images=2, max_drop=100)
    build = model_factory(SPEC, None, False)
    runnable = [n for n in ENGINES if unavailable_reason(n) is None]
    files = prepare_engine_files(SPEC, config, HW, build, files_needed(runnable), log=lambda _: None)
    return root, config, build, files


@pytest.mark.parametrize("name", list(ENGINES))
def test_every_engine_name_builds_and_runs(work, name):
    _, _, build, files = work
    reason = unavailable_reason(name)
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    x = np.random.default_rng(0).standard_normal((2, 3, *HW), dtype=np.float32)
    engine = build_engine(name, build, files, x[:1], torch_options=FIXED_TORCH.get(name)).backend
    logits = engine(x)
    assert engine.name == name and logits.shape == (2, SPEC.num_classes, *HW) and np.isfinite(logits).all()


def test_reduced_precision_needs_its_hardware():
    assert "cuda" in unavailable_reason("torch-fp16", "cpu")
    assert (unavailable_reason("torch-bf16", "cpu") is None) == bf16_supported()


@pytest.mark.skipif(not bf16_supported(), reason="no native bf16 on this CPU")
def test_bf16_tuning_reports_a_finite_time_for_every_candidate():
    """It used to print "nan ms": candidates whose argmax differed from fp32 on the random timing input
    were dropped as NaN, which bf16 always is on near-tied random logits."""
    build = model_factory(SPEC, None, False)
    sample = np.random.default_rng(0).standard_normal((1, 3, *HW), dtype=np.float32)
    best, seconds = tune_torch(build, sample, reduced_candidates("bf16"), runs=1)
    assert best.precision == "bf16" and len(seconds) == 3 and {"bf16", "channels_last+bf16"} < set(seconds)
    assert all(math.isfinite(s) and s > 0 for s in seconds.values())


def test_calibration_methods_make_different_int8_files(work, tmp_path):
    _, config, build, files = work
    batches = [np.random.default_rng(i).standard_normal((1, 3, *HW), dtype=np.float32) for i in range(2)]
    scales = {}
    for method in ("minmax", "entropy", "percentile"):
        out = quantize_int8(files.slim, tmp_path / f"{method}.onnx", batches, Int8Settings(method))
        scales[method] = {t.name: onnx.numpy_helper.to_array(t).tobytes() for t in onnx.load(str(out)).graph.initializer
                          if t.name.endswith("_scale")}
    assert scales["minmax"].keys() == scales["entropy"].keys()
    for a, b in (("minmax", "entropy"), ("minmax", "percentile"), ("entropy", "percentile")):
        assert scales[a] != scales[b], f"{a} and {b} calibrated the same activation ranges"
    # and the bench work folder keeps one file per method, never reusing another method's
    entropy = prepare_engine_files(SPEC, BenchConfig(engines=(), work_dir=config.work_dir, calib_images=2,
                                                     calibration="entropy"), HW, build, {"int8"}, lambda _: None)
    assert entropy.int8 != files.int8 and "entropy" in entropy.int8.name and files.int8.is_file()


def test_segmenter_int8_quantises_its_matmuls_and_keeps_softmax_and_layernorm_in_float(tmp_path):
    spec = get_spec("segmenter_vitl16_mask_cityscapes")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(spec, tiny=True)
    fp32 = export_onnx(model, tmp_path / "seg.onnx", (1, 3, 64, 64), dynamic_batch=True)
    batches = [np.random.default_rng(i).standard_normal((1, 3, 64, 64), dtype=np.float32) for i in range(2)]
    graph = onnx.load(str(quantize_int8(fp32, tmp_path / "seg_int8.onnx", batches))).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}

    initializers = {t.name for t in graph.initializer}
    dequantised_weight = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in initializers}

    def dequantised_inputs(op_type: str) -> list[bool]:
        return [any(producer.get(i) == "DequantizeLinear" for i in n.input) for n in graph.node if n.op_type == op_type]

    products = [n for n in graph.node if n.op_type in ("MatMul", "Gemm")]
    linear = [n for n in products if dequantised_weight & set(n.input)]
    attention = [n for n in products if not dequantised_weight & set(n.input)]
    assert linear and all(all(producer.get(i) == "DequantizeLinear" for i in n.input[:2]) for n in linear)
    assert attention and not any(dequantised_inputs("Softmax")) and not any(
        producer.get(i) == "DequantizeLinear" for n in attention for i in n.input)
    assert dequantised_inputs("Softmax") and not any(dequantised_inputs("Softmax"))
    assert dequantised_inputs("LayerNormalization") and not any(dequantised_inputs("LayerNormalization"))


def test_attention_scores_that_would_not_fit_refuse_calibration_and_the_fused_file_quantises(tmp_path, monkeypatch):
    # 16 patch tokens: kilobytes of attention scores; "available" memory is shrunk below that.
    model = build_model(get_spec("segmenter_vitl16_mask_cityscapes"), tiny=True)
    batches = [np.random.default_rng(0).standard_normal((1, 3, 64, 64), dtype=np.float32)]
    monkeypatch.setattr(quantize_module, "available_memory_bytes", lambda: 2000)
    unfused = export_onnx(model, tmp_path / "seg.onnx", (1, 3, 64, 64), dynamic_batch=True)
    with pytest.raises(SegdeployError, match=r"seg\.onnx: int8 calibration would hold .* --fuse-attention"):
        quantize_int8(unfused, tmp_path / "seg_int8.onnx", batches)
    assert not (tmp_path / "seg_int8.onnx").exists()
    fused = export_onnx(model, tmp_path / "fused.onnx", (1, 3, 64, 64), dynamic_batch=True, opset=ATTENTION_OPSET)
    ops = [n.op_type for n in onnx.load(str(quantize_int8(fused, tmp_path / "fused_int8.onnx", batches))).graph.node]
    assert "Attention" in ops and "Softmax" not in ops and "DequantizeLinear" in ops


def test_a_transformers_int8_file_is_made_from_its_fused_file(tmp_path):
    spec = get_spec("segmenter_vitl16_mask_cityscapes")
    batches = [np.random.default_rng(i).standard_normal((1, 3, 64, 64), dtype=np.float32) for i in range(2)]
    recipe = FileRecipe(calibration=lambda: batches, calibration_key="random-2")
    files = prepare_files(lambda: build_model(spec, tiny=True), (64, 64), tmp_path, "seg", {"int8"}, recipe,
                          log=lambda _: None)
    ops = {n.op_type for n in onnx.load(str(files.int8)).graph.node}
    assert files.fused is not None and files.fused.is_file() and {"Attention", "QuantizeLinear"} <= ops


def test_export_fuse_attention_writes_an_opset_23_file_proven_like_any_other(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", "--model", SPEC.name, "--out", str(out), "--input-size", "64x128", "--fuse-attention"]) == 0
    opsets = {o.domain: o.version for o in onnx.load(str(out)).opset_import}
    assert opsets[""] == ATTENTION_OPSET and "argmax agreement" in capsys.readouterr().out


def test_openvino_throughput_rows_count_every_request_of_every_round(work):
    pytest.importorskip("openvino")
    _, _, build, files = work
    engine = build_engine("openvino-throughput", build, files, np.zeros((1, 3, *HW), np.float32)).backend
    streams, requests = engine.streams((1, 3, *HW))
    (timing,) = time_batches(engine, HW, [1], warmup=1, loop=3, show_progress=False)
    assert streams >= 1 and requests >= 1 and timing.status == "ok"
    assert timing.loops == 3 * requests and timing.samples_per_s > 0 and timing.p50_ms > 0


def test_openvino_int8_is_an_nncf_quantised_ir(work):
    pytest.importorskip("nncf")
    _, _, _, files = work
    xml = files.ov_int8.read_text()
    assert files.ov_int8.suffix == ".xml" and files.ov_int8.with_suffix(".bin").is_file()
    assert 'type="FakeQuantize"' in xml or 'type="FakeConvert"' in xml


def test_bench_json_records_the_machine_and_the_command(work, tmp_path, capsys):
    root, config, _, _ = work
    out = tmp_path / "bench.json"
    code = main(["bench", "--model", SPEC.name, "--engine", "torch,onnxruntime", "--warmup", "0", "--loop", "1",
                 "--input-size", "64x128", "--work-dir", str(config.work_dir), "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["command"].startswith("segdeploy ") and result["machine"]["cores"] >= 1
    assert set(result["machine"]["cpu_flags"]) <= set(KERNEL_FLAGS)
    assert result["machine"]["onnxruntime"] == machine_info()["onnxruntime"]


def test_skipped_engines_say_why_in_their_rows(work):
    _, config, _, _ = work
    bench = BenchConfig(engines=("torch-fp16", "onnxruntime-int8-aware"), input_hw=HW, work_dir=config.work_dir,
                        warmup=0, loop=1, show_progress=False, peak_n=128)
    rows = {r.timing.engine: r.timing for r in run_bench(SPEC, bench, log=lambda _: None).rows}
    assert rows["torch-fp16"].status == "skipped" and "cuda" in rows["torch-fp16"].reason
    assert rows["onnxruntime-int8-aware"].status == "skipped" and "--data-root" in rows["onnxruntime-int8-aware"].reason


@pytest.mark.parametrize("argv, words", [
    (["--calibration", "kl"], "invalid choice"),
    (["--calib-images", "0"], "calib-images"),
])
def test_bench_rejects_bad_int8_flags_on_one_line(argv, words, capsys):
    code = main(["bench", "--model", SPEC.name, *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and words in err[0]


def test_openvino_profile_names_the_kernels_it_ran(work):
    pytest.importorskip("openvino")
    _, _, _, files = work
    x = np.random.default_rng(0).standard_normal((1, 3, *HW), dtype=np.float32)
    ops = openvino_op_profile(files.fp32, x, "f32")
    assert ops and abs(sum(share for _, _, share, _ in ops) - 1) < 0.5 and all(ms >= 0 for _, ms, _, _ in ops)
    assert any(op == "Convolution" and "f32" in kernel for op, _, _, kernel in ops)


@pytest.mark.parametrize("name", ["torch-opt", "torch-bf16", "onnxruntime-int8", "openvino-bf16", "openvino-int8"])
def test_infer_runs_a_precision_as_bench_builds_it(work, tmp_path, capsys, name):
    """`infer --engine NAME` (the line deploy prints) predicts what bench's engine of that name predicts."""
    root, _, build, files = work
    reason = unavailable_reason(name)
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    options = FIXED_TORCH.get(name)
    kind = ENGINES[name]
    if kind.runtime == "torch":
        runs = ["--checkpoint", str(save_state_dict(build(), tmp_path / "weights.pth"))]
        runs += ["--torch-options", "channels_last"] * bool(options.channels_last)
    else:
        runs = ["--onnx", str(getattr(files, kind.file))]
    out = tmp_path / "pred"
    assert main(["infer", "--model", SPEC.name, "--engine", name, *runs, "--data-root", str(root / "data"),
                 "--output", str(out), "--outfmt", "npy"]) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    engine = build_engine(name, build, files, np.zeros((1, 3, *HW), np.float32), torch_options=options).backend
    samples = list_samples("cityscapes", root / "data", "val")
    for sample in samples:
        x = normalize(read_rgb(sample.image_path), SPEC.preprocess)[None]
        np.testing.assert_array_equal(np.load(run / f"{sample.stem}_0.npy"), engine(x).argmax(1)[0])
    fingerprint = json.loads(run.with_name(run.name + ".segdeploy.json").read_text())["fingerprint"]
    assert fingerprint["engine"] == "+".join([name, *(["channels_last"] * bool(options and options.channels_last))])
    assert fingerprint["precision"] == kind.precision


def test_infer_refuses_torch_options_it_cannot_apply(work, tmp_path, capsys):
    root, _, _, files = work
    base = ["infer", "--model", SPEC.name, "--data-root", str(root / "data"), "--output", str(tmp_path / "p")]
    for extra, words in ((["--torch-options", "fast"], "--torch-options: expected a comma list of channels_last, "
                                                       "compile, got 'fast'"),
                         (["--torch-options", ""], "expected a comma list"),
                         (["--onnx", str(files.fp32), "--torch-options", "compile"],
                          "--torch-options: apply to the torch engines, not onnxruntime"),
                         (["--engine", "openvino-throughput"], "invalid choice")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())


def test_onnxruntime_streams_run_one_session_per_core_counted_as_benchmark_app_counts(work):
    _, _, build, files = work
    x = np.random.default_rng(0).standard_normal((1, 3, *HW), dtype=np.float32)
    built = build_engine("onnxruntime-int8-streams", build, files, x)
    streams = built.backend.streams
    assert len(streams) == physical_cores() and {s.name for s in streams} == {"onnxruntime-int8-streams"}
    plain = build_engine("onnxruntime-int8", build, files, x).backend
    np.testing.assert_array_equal(built.backend(x), plain(x))  # the same file: the same logits
    (timing,) = time_batches(built.backend, HW, [1], warmup=1, loop=3, show_progress=False)
    assert timing.status == "ok" and timing.loops == 3 * len(streams) and timing.samples_per_s > 0
