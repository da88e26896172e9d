"""ONNX Runtime's TensorRT provider: its options per precision and GPU, its engine cache, and the refusal of a
build without it."""

from __future__ import annotations

import socket

import onnxruntime as ort
import pytest

from segdeploy.errors import SegdeployError
from segdeploy.runtime.device import TENSORRT_PROVIDER
from segdeploy.runtime.tensorrt import prepare_cache, tensorrt_options, tensorrt_providers


def test_fp16_options_cache_engines_per_host_and_gpu(tmp_path):
    options = tensorrt_options("fp16", "cuda:1", tmp_path)
    assert options["device_id"] == "1" and options["trt_fp16_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path / f"{socket.gethostname()}-cuda1")
    assert "trt_int8_enable" not in options
    assert tensorrt_options("fp16", "cuda", tmp_path)["device_id"] == "0"


def test_int8_reads_the_calibration_table_from_the_engine_cache(tmp_path):
    table = tmp_path / "calibration.flatbuffers"
    table.write_bytes(b"table")
    options = tensorrt_options("int8", "cuda:0", tmp_path / "engines", table)
    assert options["trt_int8_enable"] == "True" and options["trt_int8_calibration_table_name"] == table.name
    assert options["trt_fp16_enable"] == "True"  # layers without an int8 kernel run in fp16, not fp32
    cache = prepare_cache(options, table)
    # ONNX Runtime looks for the table by name in the engine cache folder
    assert (cache / table.name).read_bytes() == b"table" and str(cache) == options["trt_engine_cache_path"]
    with pytest.raises(ValueError, match="calibration table"):
        tensorrt_options("int8", "cuda:0", tmp_path)
    with pytest.raises(ValueError, match="precision"):
        tensorrt_options("int4", "cuda:0", tmp_path)


@pytest.mark.skipif(TENSORRT_PROVIDER in ort.get_available_providers(), reason="an onnxruntime build without TensorRT")
def test_a_build_without_tensorrt_is_refused_in_one_line(tmp_path):
    with pytest.raises(SegdeployError, match=r"^--engine onnxruntime-trt-fp16: TensorRT is not available to ONNX "
                                             r"Runtime: .* has no TensorrtExecutionProvider"):
        tensorrt_providers("fp16", "cuda:0", tmp_path)
    assert not list(tmp_path.iterdir())  # refused before anything is written
