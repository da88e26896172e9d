"""Engine construction by name, for the commands that run one engine (infer)."""

from __future__ import annotations

from pathlib import Path

from segdeploy.benchmark.catalog import CUDA_ENGINES, INFER_ENGINES
from segdeploy.errors import SegdeployError
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.backend import Backend
from segdeploy.runtime.device import is_cuda, onnxruntime_providers, require_torch_device
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.openvino_backend import OpenVinoBackend, openvino_available
from segdeploy.runtime.tensorrt import tensorrt_providers
from segdeploy.runtime.torch_backend import TorchBackend, TorchOptions


def make_backend(spec: ModelSpec, engine: str | None, onnx: Path | None, checkpoint: Path | None,
                 trust: bool = False, device: str = "cpu", threads: int | None = None,
                 trt_calibration: Path | None = None, trt_cache: Path = Path("tensorrt_engines")) -> Backend:
    """The engine a command asked for: ONNX Runtime or OpenVINO (CPU) on an exported file, or PyTorch on
    a checkpoint.

    `engine` defaults to onnxruntime when an ONNX file is given and to torch otherwise; torch without
    a checkpoint runs randomly initialised weights (useful for timing only). An ONNX file whose
    outputs are not `spec`'s logits, or a `device` this machine cannot run, is refused here.
    TensorRT engines are cached under `trt_cache`.
    """
    engine = engine or ("onnxruntime" if onnx is not None else "torch")
    if engine not in INFER_ENGINES:
        raise SegdeployError.at("--engine", f"unknown engine {engine!r}; choose one of: {', '.join(INFER_ENGINES)}")
    if engine in CUDA_ENGINES and not is_cuda(device):
        raise SegdeployError.at(f"--engine {engine}", "runs on a CUDA device: add --device cuda[:N]")
    if trt_calibration is not None and engine != "onnxruntime-trt-int8":
        raise SegdeployError.at("--trt-calibration", "is the table of --engine onnxruntime-trt-int8 only")
    if not engine.startswith("torch") and onnx is None:
        raise SegdeployError.at(f"--engine {engine}", "needs --onnx FILE (make one with `segdeploy export`)")
    if engine.startswith("onnxruntime"):
        backend = OnnxRuntimeBackend(onnx, providers=_providers(engine, device, trt_calibration, trt_cache),
                                     threads=threads, name=engine)
        backend.check_logits_of(spec.num_classes, spec.name)  # before any output file exists
        return backend
    if engine == "openvino":
        if device != "cpu":
            raise SegdeployError.at("--device", f"the openvino engine runs on the CPU, got {device}")
        if not openvino_available():
            raise SegdeployError.at("--engine openvino", "not installed (pip install openvino)")
        return OpenVinoBackend(onnx, threads=threads)
    if onnx is not None:
        raise SegdeployError.at("--onnx", "the torch engines run a checkpoint: pass --checkpoint, or --engine onnxruntime")
    require_torch_device(device)  # before building (and loading) a model that could not run
    return TorchBackend(build_model(spec, checkpoint, trust), device=device,
                        options=TorchOptions(fp16=engine == "torch-fp16"), name=engine)


def _providers(engine: str, device: str, table: Path | None, cache: Path) -> list | None:
    if not engine.startswith("onnxruntime-trt"):
        return onnxruntime_providers(device)
    precision = engine.rsplit("-", 1)[1]
    if precision == "int8" and table is None:
        raise SegdeployError.at(f"--engine {engine}", "needs --trt-calibration FILE (the calibration.flatbuffers "
                                                      "that `segdeploy bench --engine onnxruntime-trt-int8` writes)")
    return tensorrt_providers(precision, device, cache, table)
