"""Engine construction by name, for the commands that run one engine (infer)."""

from __future__ import annotations

from pathlib import Path

from segdeploy.benchmark.catalog import CUDA_ENGINES, ENGINES, INFER_ENGINES, TORCH_OPTIONS
from segdeploy.errors import SegdeployError
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.backend import Backend
from segdeploy.runtime.device import is_cuda, onnxruntime_providers, require_torch_device
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.openvino_backend import OpenVinoBackend, openvino_available
from segdeploy.runtime.tensorrt import tensorrt_providers
from segdeploy.runtime.torch_backend import TorchBackend, TorchOptions, precision_unsupported


def make_backend(spec: ModelSpec, engine: str | None, onnx: Path | None, checkpoint: Path | None,
                 trust: bool = False, device: str = "cpu", threads: int | None = None,
                 trt_calibration: Path | None = None, trt_cache: Path = Path("tensorrt_engines"),
                 torch_options: tuple[str, ...] = ()) -> Backend:
    """The engine a command asked for, by its catalogue name (`benchmark.catalog.INFER_ENGINES`):
    ONNX Runtime or OpenVINO on a model file, or PyTorch on a checkpoint, at the name's precision.

    `engine` defaults to onnxruntime when a model file is given and to torch otherwise; torch without
    a checkpoint runs randomly initialised weights (useful for timing only). The ONNX Runtime names
    differ only in the file they are given (the int8 names run whatever QDQ file it is); the OpenVINO
    names set the precision hint (f32, bf16; int8: the plugin's default around the int8 layers) and
    also read an IR (.xml beside its .bin). `torch_options` (TORCH_OPTIONS) are the layout and
    compilation a tuned torch engine picked. An ONNX file whose outputs are not `spec`'s logits, or a
    `device` this machine cannot run, is refused here. TensorRT engines are cached under `trt_cache`.
    """
    engine = engine or ("onnxruntime" if onnx is not None else "torch")
    if engine not in INFER_ENGINES:
        raise SegdeployError.at("--engine", f"unknown engine {engine!r}; choose one of: {', '.join(INFER_ENGINES)}")
    kind = ENGINES[engine]
    if engine in CUDA_ENGINES and not is_cuda(device):
        raise SegdeployError.at(f"--engine {engine}", "runs on a CUDA device: add --device cuda[:N]")
    if trt_calibration is not None and engine != "onnxruntime-trt-int8":
        raise SegdeployError.at("--trt-calibration", "is the table of --engine onnxruntime-trt-int8 only")
    unknown = [o for o in torch_options if o not in TORCH_OPTIONS]
    if unknown or (torch_options and kind.runtime != "torch"):
        raise SegdeployError.at("--torch-options", f"{','.join(unknown)} unknown: choose from {','.join(TORCH_OPTIONS)}"
                                if unknown else f"apply to the torch engines, not {engine}")
    if kind.runtime != "torch" and onnx is None:
        raise SegdeployError.at(f"--engine {engine}", "needs --onnx FILE (make one with `segdeploy export`)")
    if kind.runtime == "onnxruntime":
        backend = OnnxRuntimeBackend(onnx, providers=_providers(engine, device, trt_calibration, trt_cache),
                                     threads=threads, name=engine)
        backend.check_logits_of(spec.num_classes, spec.name)  # before any output file exists
        return backend
    if kind.runtime == "openvino":
        if device != "cpu":
            raise SegdeployError.at("--device", f"the {engine} engine runs on the CPU, got {device}")
        if not openvino_available():
            raise SegdeployError.at(f"--engine {engine}", "not installed (pip install openvino)")
        precision = {"fp32": "f32", "bf16": "bf16"}.get(kind.precision)  # as `bench` builds it
        return OpenVinoBackend(onnx, precision=precision, threads=threads, name=engine)
    if onnx is not None:
        raise SegdeployError.at("--onnx", "the torch engines run a checkpoint: pass --checkpoint, or --engine onnxruntime")
    require_torch_device(device)  # before building (and loading) a model that could not run
    why_not = precision_unsupported(kind.precision, device)
    if why_not is not None:
        raise SegdeployError.at(f"--engine {engine}", why_not)
    options = TorchOptions(channels_last="channels_last" in torch_options, precision=kind.precision,
                           compile="compile" in torch_options)
    return TorchBackend(build_model(spec, checkpoint, trust), device=device, options=options, name=engine)


def _providers(engine: str, device: str, table: Path | None, cache: Path) -> list | None:
    if not engine.startswith("onnxruntime-trt"):
        return onnxruntime_providers(device)
    precision = engine.rsplit("-", 1)[1]
    if precision == "int8" and table is None:
        raise SegdeployError.at(f"--engine {engine}", "needs --trt-calibration FILE (the calibration.flatbuffers "
                                                      "that `segdeploy bench --engine onnxruntime-trt-int8` writes)")
    return tensorrt_providers(precision, device, cache, table)
