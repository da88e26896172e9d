"""The engines `segdeploy bench` can put side by side, and how each is built from the model and its files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime
from torch import nn

from segdeploy.benchmark.artifacts import EngineFiles
from segdeploy.benchmark.catalog import CUDA_ENGINES, ENGINES
from segdeploy.reporting.fingerprint import file_sha256
from segdeploy.runtime.backend import Backend
from segdeploy.runtime.device import is_cuda, onnxruntime_providers
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.openvino_backend import OpenVinoBackend, openvino_available
from segdeploy.runtime.tensorrt import tensorrt_providers
from segdeploy.runtime.torch_backend import TorchBackend, TorchOptions, tune_torch


class EngineUnavailable(Exception):
    """An optional engine whose package is not installed: reported as a row, not an error."""


@dataclass(frozen=True)
class BuiltEngine:
    backend: Backend
    detail: str  # what exactly runs: options chosen, file name


def files_needed(engines: list[str], device: str = "cpu") -> set[str]:
    """The files `engines` run on `device`; none for a CUDA engine off CUDA (its row only says so)."""
    return {ENGINES[name][0] for name in engines
            if ENGINES[name][0] is not None and (name not in CUDA_ENGINES or is_cuda(device))}


def build_engine(name: str, model: Callable[[], nn.Module], files: EngineFiles, sample: np.ndarray,
                 device: str = "cpu", torch_options=None, threads: int | None = None) -> BuiltEngine:
    """Build engine `name`. torch-opt is tuned on `sample` unless `torch_options` fixes its options.

    `threads`: the ONNX Runtime / OpenVINO intra-op threads (default: every core); torch's pool is
    process-wide, so its callers set `torch.set_num_threads` instead.
    """
    if name in CUDA_ENGINES and not is_cuda(device):
        raise EngineUnavailable("needs CUDA (--device cuda[:N])")
    if name == "torch-fp16":
        return BuiltEngine(TorchBackend(model(), device=device, options=TorchOptions(fp16=True), name=name),
                           TorchOptions(fp16=True).label)
    if name.startswith("onnxruntime-trt"):
        return _tensorrt_engine(name, files, device)
    if name == "torch":
        return BuiltEngine(TorchBackend(model(), device=device, name="torch"), TorchOptions().label)
    if name == "torch-opt":
        if torch_options is None:
            torch_options, seconds = tune_torch(model, sample)
            tried = ", ".join(f"{label} {s * 1000:.0f} ms" for label, s in seconds.items())
            detail = f"{torch_options.label} (tuned at batch {len(sample)}: {tried})"
        else:
            detail = torch_options.label
        return BuiltEngine(TorchBackend(model(), device=device, options=torch_options, name=name), detail)
    path = getattr(files, ENGINES[name][0])
    if name.startswith("openvino"):
        if not openvino_available():
            raise EngineUnavailable("not installed (pip install openvino)")
        return BuiltEngine(OpenVinoBackend(path, precision="f32", threads=threads, name=name), path.name)
    cuda = is_cuda(device)
    providers = onnxruntime_providers(device)
    cache = None  # the optimised graph is CPU-specific (NCHWc layouts): cached for the CPU provider only
    if files.ort_cache is not None and not cuda:
        # Named by content: a given --onnx of the same name but another network must not reuse the graph.
        cache = files.ort_cache / f"{path.stem}-{file_sha256(path)[:10]}.ort{onnxruntime.__version__}.onnx"
        cache.parent.mkdir(parents=True, exist_ok=True)
    return BuiltEngine(OnnxRuntimeBackend(path, providers=providers, threads=threads, optimized_cache=cache, name=name),
                       path.name)


def _tensorrt_engine(name: str, files: EngineFiles, device: str) -> BuiltEngine:
    precision = name.rsplit("-", 1)[1]
    table = files.trt_table if precision == "int8" else None
    providers = tensorrt_providers(precision, device, files.trt_cache, table)
    return BuiltEngine(OnnxRuntimeBackend(files.fp32, providers=providers, name=name),
                       f"{files.fp32.name}, TensorRT {precision}" + (f", table {table}" if table else ""))


def torch_options_of(built: BuiltEngine):
    """The options a built torch engine runs with (to rebuild it identically for the accuracy pass)."""
    return getattr(built.backend, "options", None)
