"""`--device` and the CUDA engines: the selection logic, and one-line refusals where CUDA is absent."""

from __future__ import annotations

import pytest
import torch

from segdeploy.benchmark.artifacts import EngineFiles
from segdeploy.benchmark.catalog import CUDA_ENGINES
from segdeploy.benchmark.engines import EngineUnavailable, build_engine
from segdeploy.cli import main
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.errors import SegdeployError
from segdeploy.models import MODELS
from segdeploy.runtime.devices import cuda_missing, resolve_device
from segdeploy.runtime.torch_backend import TorchBackend, TorchOptions

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals of a machine without CUDA")


@pytest.fixture
def two_gpus(monkeypatch):
    """The selection logic of a 2-GPU machine (no kernel runs: only device objects are made)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_cuda_means_this_processes_own_gpu_under_torchrun(two_gpus):
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:1", local_rank=0) == torch.device("cuda", 1)
    assert resolve_device(None) == torch.device("cuda", 0) and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(SegdeployError, match="one process per GPU"):
        resolve_device("cuda", local_rank=2)
    with pytest.raises(SegdeployError, match="cuda:5 does not exist, 2 GPU"):
        resolve_device("cuda:5")


@needs_no_cuda
def test_without_cuda_the_cpu_is_the_default_and_cuda_is_refused():
    assert resolve_device(None) == torch.device("cpu") and cuda_missing()
    with pytest.raises(SegdeployError, match=r"^--device cuda:1: CUDA is not available here: .*; use --device cpu$"):
        resolve_device("cuda:1")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate_cityscapes_like(root, "val", 1, size=(32, 64), seed=0)
    return root


def _one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("segdeploy: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@needs_no_cuda
@pytest.mark.parametrize("engine_args, expected", [
    (["--device", "cuda"], "--device cuda: CUDA is not available here"),
    (["--device", "cuda:0", "--engine", "torch-fp16"], "--device cuda:0: CUDA is not available here"),
    (["--engine", "torch-fp16"], "--engine torch-fp16: runs on a CUDA device: add --device cuda[:N]"),
    (["--engine", "onnxruntime-trt-int8", "--onnx", "{onnx}"], "--engine onnxruntime-trt-int8: runs on a CUDA device"),
    (["--trt-calibration", "{onnx}"], "--trt-calibration: is the table of --engine onnxruntime-trt-int8 only"),
])
def test_infer_refuses_cuda_engines_in_one_line(tiny_data, tmp_path, capsys, engine_args, expected):
    onnx = tmp_path / "stand-in.onnx"
    onnx.write_bytes(b"never loaded: the engine is refused first")
    argv = ["infer", "--model", "fastscnn_cityscapes", "--data-root", str(tiny_data), "--output", str(tmp_path / "p"),
            *[a.format(onnx=onnx) for a in engine_args]]
    assert expected in _one_line_error(capsys, argv)


@pytest.mark.parametrize("name", sorted(CUDA_ENGINES))
def test_bench_rows_of_cuda_engines_on_the_cpu_say_they_need_cuda(name):
    with pytest.raises(EngineUnavailable, match=r"needs CUDA \(--device cuda\[:N\]\)"):
        build_engine(name, lambda: pytest.fail("no model is built"), EngineFiles(), sample=None, device="cpu")


def test_fp16_autocast_is_refused_on_the_cpu():
    spec = MODELS["fastscnn_cityscapes"]
    with pytest.raises(SegdeployError, match="fp16 autocast runs on CUDA"):
        TorchBackend(spec.build(**spec.tiny), device="cpu", options=TorchOptions(fp16=True))
    assert TorchOptions(fp16=True).label == "fp16"
