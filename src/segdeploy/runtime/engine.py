"""Engine construction by name, for the commands that run one engine (infer)."""

from __future__ import annotations

from pathlib import Path

from segdeploy.errors import SegdeployError
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.backend import Backend
from segdeploy.runtime.device import onnxruntime_providers, require_torch_device
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.torch_backend import TorchBackend

ENGINES = ("torch", "onnxruntime")


def make_backend(spec: ModelSpec, engine: str | None, onnx: Path | None, checkpoint: Path | None,
                 trust: bool = False, device: str = "cpu") -> Backend:
    """The engine a command asked for: ONNX Runtime on an exported file, or PyTorch on a checkpoint.

    `engine` defaults to onnxruntime when an ONNX file is given and to torch otherwise; torch without
    a checkpoint runs randomly initialised weights (useful for timing only). An ONNX file whose
    outputs are not `spec`'s logits, or a `device` this machine cannot run, is refused here.
    """
    engine = engine or ("onnxruntime" if onnx is not None else "torch")
    if engine not in ENGINES:
        raise SegdeployError.at("--engine", f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "onnxruntime":
        if onnx is None:
            raise SegdeployError.at("--engine onnxruntime", "needs --onnx FILE (make one with `segdeploy export`)")
        backend = OnnxRuntimeBackend(onnx, providers=onnxruntime_providers(device))
        backend.check_logits_of(spec.num_classes, spec.name)  # before any output file exists
        return backend
    if onnx is not None:
        raise SegdeployError.at("--onnx", "the torch engine runs a checkpoint: pass --checkpoint, or --engine onnxruntime")
    require_torch_device(device)  # before building (and loading) a model that could not run
    return TorchBackend(build_model(spec, checkpoint, trust), device=device)
