"""`--device` and the CUDA engines: which GPU a process takes, and one-line refusals where CUDA is absent."""

from __future__ import annotations

import pytest
import torch

from segdeploy.benchmark.artifacts import EngineFiles
from segdeploy.benchmark.catalog import CUDA_ENGINES
from segdeploy.benchmark.engines import EngineUnavailable, build_engine, files_needed
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.errors import SegdeployError
from segdeploy.models import MODELS
from segdeploy.runtime.device import process_device
from segdeploy.runtime.torch_backend import TorchBackend, TorchOptions

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals of a machine without CUDA")


def test_under_torchrun_cuda_is_each_processes_own_gpu():
    assert process_device("cuda", local_rank=0) == "cuda:0" and process_device("cuda", local_rank=3) == "cuda:3"
    assert process_device("cuda:1", local_rank=0) == "cuda:1" and process_device("cpu", local_rank=2) == "cpu"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate_cityscapes_like(root, "val", 1, size=(32, 64), seed=0)
    return root


@needs_no_cuda
@pytest.mark.parametrize("engine_args, expected", [
    (["--device", "cuda:0", "--engine", "torch-fp16"], "--device cuda:0: CUDA is not available"),
    (["--device", "cuda", "--engine", "onnxruntime-trt-fp16", "--onnx", "{onnx}"],
     "--engine onnxruntime-trt-fp16: TensorRT is not available to ONNX Runtime"),
    (["--engine", "torch-fp16"], "--engine torch-fp16: runs on a CUDA device: add --device cuda[:N]"),
    (["--engine", "onnxruntime-trt-int8", "--onnx", "{onnx}"], "--engine onnxruntime-trt-int8: runs on a CUDA device"),
    (["--trt-calibration", "{onnx}"], "--trt-calibration: is the table of --engine onnxruntime-trt-int8 only"),
])
def test_infer_refuses_cuda_engines_in_one_line(tiny_data, tmp_path, one_line_error, engine_args, expected):
    onnx = tmp_path / "stand-in.onnx"
    onnx.write_bytes(b"never loaded: the engine is refused first")
    argv = ["infer", "--model", "fastscnn_cityscapes", "--data-root", str(tiny_data), "--output", str(tmp_path / "p"),
            *[a.format(onnx=onnx) for a in engine_args]]
    assert expected in one_line_error(argv)


@pytest.mark.parametrize("name", sorted(CUDA_ENGINES))
def test_bench_rows_of_cuda_engines_on_the_cpu_say_they_need_cuda(name):
    with pytest.raises(EngineUnavailable, match=r"needs CUDA \(--device cuda\[:N\]\)"):
        build_engine(name, lambda: pytest.fail("no model is built"), EngineFiles(), sample=None, device="cpu")


def test_no_file_is_made_for_a_cuda_engine_off_cuda():
    # the TensorRT table costs a calibration run: not for a row that will only say "needs CUDA"
    assert files_needed(["onnxruntime", "onnxruntime-trt-int8"]) == {"fp32"}
    assert files_needed(["onnxruntime", "onnxruntime-trt-int8"], "cuda:0") == {"fp32", "trt_table"}


def test_fp16_autocast_is_refused_on_the_cpu():
    spec = MODELS["fastscnn_cityscapes"]
    with pytest.raises(SegdeployError, match="fp16 autocast runs on CUDA"):
        TorchBackend(spec.build(**spec.tiny), device="cpu", options=TorchOptions(fp16=True))
    assert TorchOptions(fp16=True).label == "fp16"
