"""The engines `segdeploy bench` can put side by side, and how each is built from the model and its files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime
from torch import nn

from segdeploy.benchmark.artifacts import EngineFiles
from segdeploy.benchmark.catalog import CUDA_ENGINES, ENGINES
from segdeploy.benchmark.streams import StreamsBackend
from segdeploy.export.openvino_quantize import nncf_available
from segdeploy.reporting.fingerprint import file_sha256
from segdeploy.runtime.backend import Backend
from segdeploy.runtime.device import is_cuda, onnxruntime_providers
from segdeploy.runtime.machine import physical_cores
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.openvino_backend import OpenVinoBackend, openvino_available
from segdeploy.runtime.tensorrt import tensorrt_providers
from segdeploy.runtime.torch_backend import (
    TorchBackend,
    TorchOptions,
    fp32_candidates,
    precision_unsupported,
    reduced_candidates,
    tune_torch,
)


class EngineUnavailable(Exception):
    """An engine this machine or install cannot run: reported as a row, not an error."""


@dataclass(frozen=True)
class BuiltEngine:
    backend: Backend
    detail: str  # what exactly runs: options chosen, file name


def files_needed(engines: list[str], device: str = "cpu") -> set[str]:
    """The files `engines` run on `device`; none for a CUDA engine off CUDA (its row only says so)."""
    return {ENGINES[name].file for name in engines
            if ENGINES[name].file is not None and (name not in CUDA_ENGINES or is_cuda(device))}


def unavailable_reason(name: str, device: str = "cpu") -> str | None:
    """Why engine `name` cannot run here (None: it can), known before any file is made."""
    kind = ENGINES[name]
    if name in CUDA_ENGINES and not is_cuda(device):
        return "needs CUDA (--device cuda[:N])"
    if kind.runtime == "torch":
        return precision_unsupported(kind.precision, device)
    if kind.runtime == "openvino":
        if not openvino_available():
            return "not installed (pip install -e '.[bench]')"
        if kind.file == "ov_int8" and not nncf_available():
            return "NNCF not installed (pip install -e '.[bench]')"
        if device.startswith("cuda"):
            return "OpenVINO runs on the CPU here"
    return None


def build_engine(name: str, model: Callable[[], nn.Module], files: EngineFiles, sample: np.ndarray,
                 device: str = "cpu", torch_options: TorchOptions | None = None,
                 threads: int | None = None) -> BuiltEngine:
    """Build engine `name`. Tuned torch engines are tuned on `sample` unless `torch_options` fixes them.

    `threads`: the ONNX Runtime / OpenVINO intra-op threads (default: every core); torch's pool is
    process-wide, so its callers set `torch.set_num_threads` instead.
    """
    reason = unavailable_reason(name, device)
    if reason is not None:
        raise EngineUnavailable(reason)
    kind = ENGINES[name]
    if kind.runtime == "torch":
        return _torch_engine(name, model, sample, device, torch_options)
    if name.startswith("onnxruntime-trt"):
        return _tensorrt_engine(name, files, device)
    path = getattr(files, kind.file)
    if kind.runtime == "openvino":
        # f32 is named explicitly; bf16 and int8 use what the plugin picks on this CPU (bf16 on AVX-512 BF16)
        precision = {"fp32": "f32", "bf16": "bf16"}.get(kind.precision)
        backend = OpenVinoBackend(path, precision=precision, hint=kind.hint, threads=threads, name=name)
        return BuiltEngine(backend, f"{path.name}, {kind.hint} hint, precision {precision or 'plugin default'}")
    cuda = is_cuda(device)
    providers = onnxruntime_providers(device)
    cache = None  # the optimised graph is CPU-specific (NCHWc layouts): cached for the CPU provider only
    if files.ort_cache is not None and not cuda:
        # Named by content: a given --onnx of the same name but another network must not reuse the graph.
        cache = files.ort_cache / f"{path.stem}-{file_sha256(path)[:10]}.ort{onnxruntime.__version__}.onnx"
        cache.parent.mkdir(parents=True, exist_ok=True)
    if kind.hint == "THROUGHPUT":  # segdeploy's streams: every core runs its own session
        streams = [OnnxRuntimeBackend(path, providers=providers, threads=1, optimized_cache=cache, name=name)
                   for _ in range(physical_cores())]
        return BuiltEngine(StreamsBackend(streams), f"{path.name}, {len(streams)} streams x 1 thread")
    return BuiltEngine(OnnxRuntimeBackend(path, providers=providers, threads=threads, optimized_cache=cache, name=name),
                       path.name)


def _tensorrt_engine(name: str, files: EngineFiles, device: str) -> BuiltEngine:
    precision = name.rsplit("-", 1)[1]
    table = files.trt_table if precision == "int8" else None
    providers = tensorrt_providers(precision, device, files.trt_cache, table)
    return BuiltEngine(OnnxRuntimeBackend(files.fp32, providers=providers, name=name),
                       f"{files.fp32.name}, TensorRT {precision}" + (f", table {table}" if table else ""))


def _torch_engine(name: str, model: Callable[[], nn.Module], sample: np.ndarray, device: str,
                  options: TorchOptions | None) -> BuiltEngine:
    kind = ENGINES[name]
    if name == "torch":
        options, detail = TorchOptions(), TorchOptions().label
    elif options is not None:
        detail = options.label
    else:
        candidates = fp32_candidates() if kind.precision == "fp32" else reduced_candidates(kind.precision)
        options, seconds = tune_torch(model, sample, candidates, device=device)
        tried = ", ".join(f"{label} {s * 1000:.0f} ms" for label, s in seconds.items())
        detail = f"{options.label} (tuned at batch {len(sample)}: {tried})"
    return BuiltEngine(TorchBackend(model(), device=device, options=options, name=name), detail)


def torch_options_of(built: BuiltEngine) -> TorchOptions | None:
    """The options a built torch engine runs with (to rebuild it identically for the accuracy pass)."""
    return getattr(built.backend, "options", None)
