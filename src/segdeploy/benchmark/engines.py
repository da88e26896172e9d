"""The engines `segdeploy bench` can put side by side, and how each is built from the model and its files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from segdeploy.runtime.backend import Backend

if TYPE_CHECKING:  # the CLI reads ENGINES while parsing: keep torch out of this import
    from torch import nn

    from segdeploy.benchmark.artifacts import EngineFiles

# name -> (the file it runs, what it is); "torch" is the baseline of every ratio and of the accuracy gate.
ENGINES: dict[str, tuple[str | None, str]] = {
    "torch": (None, "PyTorch eager fp32"),
    "torch-opt": (None, "PyTorch with the fastest of channels_last / bf16 autocast measured here"),
    "onnxruntime": ("fp32", "ONNX Runtime, exported fp32 file, tuned session"),
    "onnxruntime-slim": ("slim", "ONNX Runtime, onnxslim-simplified fp32 file"),
    "onnxruntime-int8": ("int8", "ONNX Runtime, static int8 QDQ file (per-channel weights)"),
    "openvino": ("fp32", "OpenVINO CPU, fp32 precision hint, same fp32 file"),
    "openvino-int8": ("int8", "OpenVINO CPU, same int8 QDQ file"),
}
# The accuracy ladder: each rung is the previous file with one more transform.
LADDER = ("torch", "onnxruntime", "onnxruntime-slim", "onnxruntime-int8")


class EngineUnavailable(Exception):
    """An optional engine whose package is not installed: reported as a row, not an error."""


@dataclass(frozen=True)
class BuiltEngine:
    backend: Backend
    detail: str  # what exactly runs: options chosen, file name


def files_needed(engines: list[str]) -> set[str]:
    return {ENGINES[name][0] for name in engines if ENGINES[name][0] is not None}


def build_engine(name: str, model: Callable[[], nn.Module], files: EngineFiles, sample: np.ndarray,
                 device: str = "cpu", torch_options=None) -> BuiltEngine:
    """Build engine `name`. torch-opt is tuned on `sample` unless `torch_options` fixes its options."""
    from segdeploy.runtime.torch_backend import TorchBackend, TorchOptions, tune_torch

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
        from segdeploy.runtime.openvino_backend import OpenVinoBackend, openvino_available

        if not openvino_available():
            raise EngineUnavailable("not installed (pip install openvino)")
        return BuiltEngine(OpenVinoBackend(path, precision="f32", name=name), path.name)
    import onnxruntime

    from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend

    cuda = device.startswith("cuda")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else None
    cache = None  # the optimised graph is CPU-specific (NCHWc layouts): cached for the CPU provider only
    if files.ort_cache is not None and not cuda:
        cache = files.ort_cache / f"{path.stem}.ort{onnxruntime.__version__}.onnx"
        cache.parent.mkdir(parents=True, exist_ok=True)
    return BuiltEngine(OnnxRuntimeBackend(path, providers=providers, optimized_cache=cache, name=name), path.name)


def torch_options_of(built: BuiltEngine):
    """The options a built torch engine runs with (to rebuild it identically for the accuracy pass)."""
    return getattr(built.backend, "options", None)
