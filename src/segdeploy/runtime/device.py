"""Whether `--device` can be used here, asked before an engine is built: one line saying what is missing.

Without these checks torch fails deep inside `.to("cuda")` with an AssertionError, and ONNX
Runtime quietly runs on the CPU when its CUDA provider is absent, so a "GPU" number would be a CPU one.
"""

from __future__ import annotations

import onnxruntime as ort
import torch

from segdeploy.errors import SegdeployError

CUDA_PROVIDER = "CUDAExecutionProvider"
TENSORRT_PROVIDER = "TensorrtExecutionProvider"


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def cuda_index(device: str) -> int:
    """N of `cuda:N` (0 for plain `cuda`); argtypes.device_arg has checked the form."""
    return int(device.split(":", 1)[1]) if ":" in device else 0


def require_torch_device(device: str) -> None:
    """A `cuda[:N]` device that this torch build and machine can run on, or one line saying why not."""
    if not is_cuda(device):
        return
    where = f"--device {device}"
    if torch.version.cuda is None:
        raise SegdeployError.at(where, f"CUDA is not available: this torch build ({torch.__version__}) has no "
                                       "CUDA support; install a CUDA build of torch, or use --device cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise SegdeployError.at(where, f"CUDA is not available: torch {torch.__version__} (CUDA "
                                       f"{torch.version.cuda}) sees no CUDA device (driver, or CUDA_VISIBLE_DEVICES); "
                                       "use --device cpu")
    if cuda_index(device) >= count:
        raise SegdeployError.at(where, f"this machine has {count} CUDA device(s): cuda:0 to cuda:{count - 1}")


def process_device(requested: str, local_rank: int = 0) -> str:
    """This process's device for `--device`: under torchrun, plain `cuda` is its own GPU, `cuda:LOCAL_RANK`
    (one process per GPU); `cuda:N` and `cpu` stay as they are. Whether it can run is checked per engine."""
    return f"cuda:{local_rank}" if requested == "cuda" else requested


def onnxruntime_providers(device: str) -> list[str | tuple[str, dict]] | None:
    """ONNX Runtime's providers for `device` (None: its CPU default), or one line naming what is missing."""
    if not is_cuda(device):
        return None
    available = ort.get_available_providers()
    if CUDA_PROVIDER not in available:
        raise SegdeployError.at(f"--device {device}", f"CUDA is not available to ONNX Runtime: this build "
                                f"(onnxruntime {ort.__version__}) has no {CUDA_PROVIDER}, only "
                                f"{', '.join(available)}; install onnxruntime-gpu, or use --device cpu")
    return [(CUDA_PROVIDER, {"device_id": cuda_index(device)}), "CPUExecutionProvider"]


def require_tensorrt(engine: str) -> None:
    """ONNX Runtime's TensorRT provider, which only the onnxruntime-gpu builds with TensorRT have."""
    available = ort.get_available_providers()
    if TENSORRT_PROVIDER not in available:
        raise SegdeployError.at(f"--engine {engine}", f"TensorRT is not available to ONNX Runtime: this build "
                                f"(onnxruntime {ort.__version__}) has no {TENSORRT_PROVIDER}, only "
                                f"{', '.join(available)}; install onnxruntime-gpu and TensorRT")


def require_device(device: str, engines: list[str]) -> None:
    """Check `device` for every engine family in `engines` (torch*, onnxruntime*) before any work starts."""
    for engine in engines:
        if engine.startswith("torch"):
            require_torch_device(device)
        elif engine.startswith("onnxruntime"):
            onnxruntime_providers(device)
            if engine.startswith("onnxruntime-trt") and is_cuda(device):
                require_tensorrt(engine)
