"""Engine construction by name, for the commands that run one engine (infer)."""

from __future__ import annotations

from pathlib import Path

from segdeploy.errors import SegdeployError
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.backend import Backend
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.openvino_backend import OpenVinoBackend, openvino_available
from segdeploy.runtime.torch_backend import TorchBackend

ENGINES = ("torch", "onnxruntime", "openvino")


def make_backend(spec: ModelSpec, engine: str | None, onnx: Path | None, checkpoint: Path | None,
                 trust: bool = False, device: str = "cpu") -> Backend:
    """The engine a command asked for: ONNX Runtime or OpenVINO on an exported file, or PyTorch on a checkpoint.

    `engine` defaults to onnxruntime when an ONNX file is given and to torch otherwise; torch without
    a checkpoint runs randomly initialised weights (useful for timing only).
    """
    engine = engine or ("onnxruntime" if onnx is not None else "torch")
    if engine not in ENGINES:
        raise SegdeployError.at("--engine", f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine in ("onnxruntime", "openvino") and onnx is None:
        raise SegdeployError.at(f"--engine {engine}", "needs --onnx FILE (make one with `segdeploy export`)")
    if engine == "openvino":
        if not openvino_available():
            raise SegdeployError.at("--engine openvino", "openvino is not installed (pip install -e '.[bench]')")
        return OpenVinoBackend(onnx)
    if engine == "onnxruntime":
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") else None
        return OnnxRuntimeBackend(onnx, providers=providers)
    if onnx is not None:
        raise SegdeployError.at("--onnx", "the torch engine runs a checkpoint: pass --checkpoint, or --engine onnxruntime")
    return TorchBackend(build_model(spec, checkpoint, trust), device=device)
