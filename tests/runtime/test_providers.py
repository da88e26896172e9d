"""ONNX Runtime provider lists per device and precision, and clear refusals where a build lacks one."""

from __future__ import annotations

import socket

import onnxruntime as ort
import pytest
import torch

from segdeploy.errors import SegdeployError
from segdeploy.export.onnx_export import export_onnx
from segdeploy.models import MODELS
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend, missing_providers
from segdeploy.runtime.providers import (
    CPU,
    CUDA,
    TENSORRT,
    TensorRTOptions,
    execution_providers,
    tensorrt_providers,
)


def test_cpu_and_cuda_lists():
    assert execution_providers("cpu") == [CPU]
    assert execution_providers("cuda:1") == [(CUDA, {"device_id": "1"}), CPU]
    assert execution_providers("cuda") == [(CUDA, {"device_id": "0"}), CPU]


def test_tensorrt_fp16_comes_first_then_cuda_then_cpu_with_a_cache_per_host_and_gpu(tmp_path):
    providers = execution_providers("cuda:1", TensorRTOptions("fp16", tmp_path))
    assert [p if isinstance(p, str) else p[0] for p in providers] == [TENSORRT, CUDA, CPU]
    options = providers[0][1]
    assert options["device_id"] == "1" and options["trt_fp16_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path / f"{socket.gethostname()}-cuda1")
    assert "trt_int8_enable" not in options


def test_tensorrt_int8_reads_the_calibration_table_from_its_engine_cache(tmp_path):
    table = tmp_path / "calibration.flatbuffers"
    table.write_bytes(b"table")
    providers = tensorrt_providers("int8", "cuda:0", tmp_path / "engines", table)
    options = providers[0][1]
    assert options["trt_int8_enable"] == "True" and options["trt_int8_calibration_table_name"] == table.name
    # ONNX Runtime looks for the table by name in the engine cache folder
    assert (tmp_path / "engines" / f"{socket.gethostname()}-cuda0" / table.name).read_bytes() == b"table"
    with pytest.raises(ValueError, match="calibration table"):
        execution_providers("cuda:0", TensorRTOptions("int8", tmp_path))
    with pytest.raises(ValueError, match="CUDA device"):
        execution_providers("cpu", TensorRTOptions("fp16", tmp_path))


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="a CPU-only onnxruntime build")
def test_a_cpu_only_build_refuses_cuda_and_names_the_gpu_package(tmp_path):
    spec = MODELS["fastscnn_cityscapes"]
    torch.manual_seed(0)
    path = export_onnx(spec.build(**spec.tiny).eval(), tmp_path / "tiny.onnx", (1, 3, 32, 64))
    assert missing_providers([CPU]) is None
    for providers in (execution_providers("cuda:0"), execution_providers("cuda:0", TensorRTOptions("fp16", tmp_path))):
        with pytest.raises(SegdeployError, match=rf"has no .*CUDAExecutionProvider.*onnxruntime-gpu=={ort.__version__}"):
            OnnxRuntimeBackend(path, providers=providers)
    assert OnnxRuntimeBackend(path).providers == [CPU]
