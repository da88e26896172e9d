"""ONNX Runtime's TensorRT provider: fp16 and int8 engines of an fp32 file, cached, in front of CUDA and the CPU.

A provider list is an order of preference per graph node: TensorRT takes the subgraphs it can build
engines for, CUDA the remaining nodes, the CPU whatever neither has a kernel for.

TensorRT int8 here is implicit quantisation of the fp32 file with ONNX Runtime's calibration table
(`segdeploy.export.tensorrt_calibration`), computed from the same calibration images and min/max
method as the CPU int8 QDQ file. The QDQ file itself does not suit TensorRT: its activations are
asymmetric uint8, and TensorRT quantises symmetrically to int8. Layers without an int8 kernel run in
fp16. TensorRT builds an engine per input shape at the first run, for this GPU model and TensorRT
version, which takes minutes, so engines are cached, one folder per host and GPU, so that processes
never write the same files.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from segdeploy.runtime.device import TENSORRT_PROVIDER, cuda_index, onnxruntime_providers, require_tensorrt

TRT_PRECISIONS = ("fp16", "int8")


def tensorrt_options(precision: str, device: str, cache_root: Path,
                     calibration_table: Path | None = None) -> dict[str, str]:
    """The TensorRT provider's options for `precision` on `device` (`cuda:N`), caching engines under `cache_root`."""
    if precision not in TRT_PRECISIONS:
        raise ValueError(f"TensorRT precision must be one of {TRT_PRECISIONS}, got {precision!r}")
    index = cuda_index(device)
    options = {"device_id": str(index), "trt_fp16_enable": "True", "trt_engine_cache_enable": "True",
               "trt_engine_cache_path": str(cache_root / f"{socket.gethostname()}-cuda{index}")}
    if precision == "int8":
        if calibration_table is None:
            raise ValueError("TensorRT int8 needs a calibration table")
        # ONNX Runtime reads the table by name from the engine cache folder (see prepare_cache)
        options |= {"trt_int8_enable": "True", "trt_int8_calibration_table_name": calibration_table.name,
                    "trt_int8_use_native_calibration_table": "False"}
    return options


def prepare_cache(options: dict[str, str], calibration_table: Path | None = None) -> Path:
    """Make the engine cache folder of `options`, with the int8 calibration table copied in."""
    cache = Path(options["trt_engine_cache_path"])
    cache.mkdir(parents=True, exist_ok=True)
    if calibration_table is not None:
        shutil.copyfile(calibration_table, cache / calibration_table.name)
    return cache


def tensorrt_providers(precision: str, device: str, cache_root: Path,
                       calibration_table: Path | None = None) -> list[str | tuple[str, dict]]:
    """TensorRT, then CUDA, then the CPU, for an InferenceSession; one line saying what is missing."""
    require_tensorrt(f"onnxruntime-trt-{precision}")
    cuda = onnxruntime_providers(device)
    if cuda is None:
        raise ValueError("TensorRT runs on a CUDA device")
    options = tensorrt_options(precision, device, cache_root, calibration_table)
    prepare_cache(options, calibration_table)
    return [(TENSORRT_PROVIDER, options), *cuda]
