"""Export a model to ONNX, check the file, and prove it in ONNX Runtime against eager PyTorch."""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from segdeploy.errors import SegdeployError
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.atomic import write_bytes_atomic
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend

OPSET = 18
MIN_ARGMAX_AGREEMENT = 0.999


@dataclass(frozen=True)
class ParityReport:
    """ONNX Runtime vs eager PyTorch on one random input."""

    max_abs_diff: float
    argmax_agreement: float  # fraction of pixels whose class is the same
    input_shape: tuple[int, ...]

    @property
    def passed(self) -> bool:
        return self.argmax_agreement >= MIN_ARGMAX_AGREEMENT


def export_onnx(model: nn.Module, out: str | Path, input_shape: tuple[int, int, int, int],
                dynamic_batch: bool = False, simplify: bool = False, opset: int = OPSET) -> Path:
    """Write `model` (eval mode) as ONNX with input `input` and output `output`, then onnx.checker it.

    Uses the dynamo exporter: unlike the TorchScript one it exports adaptive average pooling exactly
    at the fixed spatial size. Only the batch axis can be dynamic.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    example = torch.randn(*input_shape)
    dynamic_shapes = ({_forward_arg_name(model): {0: torch.export.Dim("batch", min=1, max=1024)}}
                      if dynamic_batch else None)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.stem}.")) / out.name
    try:
        with _quiet_exporter():
            program = torch.onnx.export(model, (example,), str(tmp), dynamo=True, opset_version=opset,
                                        input_names=["input"], output_names=["output"],
                                        dynamic_shapes=dynamic_shapes, external_data=False)
        if dynamic_batch:
            _check_batch_axis_dynamic(program, out)
        if simplify:
            simplify_onnx(tmp, tmp)
        onnx.checker.check_model(str(tmp), full_check=True)
        os.replace(tmp, out)
    except SegdeployError:
        raise
    except Exception as err:
        raise SegdeployError.at(out, f"ONNX export failed: {str(err).strip().splitlines()[0][:200]}") from err
    finally:
        tmp.unlink(missing_ok=True)
        tmp.parent.rmdir()
    return out


def _check_batch_axis_dynamic(program: torch.onnx.ONNXProgram, out: Path) -> None:
    """torch.onnx, when the model's code specialises a dynamic axis, quietly exports it fixed
    (it applies torch.export's suggested fix): a `--dynamic-batch` file must really have one."""
    batch = program.model.graph.inputs[0].shape[0]
    if isinstance(batch, int):
        raise SegdeployError.at(out, f"--dynamic-batch: the exporter fixed the batch axis to {batch} because an "
                                     "operation in the model specialises it (a bug in the model's export path)")


def _forward_arg_name(model: nn.Module) -> str:
    return next(iter(inspect.signature(model.forward).parameters))


def simplify_onnx(src: Path, out: Path) -> None:
    """onnxslim's simplified graph of `src` written to `out` atomically (`out` may be `src`)."""
    import onnxslim  # 1.3 s to import: only for the runs that simplify

    with _quiet_exporter():
        slim = onnxslim.slim(onnx.load(str(src)))
    write_bytes_atomic(out, slim.SerializeToString())


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs and prints progress (and warns that torchvision is absent): keep the CLI clean."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def check_parity(model: nn.Module, onnx_path: str | Path, input_shape: tuple[int, int, int, int],
                 seed: int = 0) -> ParityReport:
    """Run the same random input through eager PyTorch and ONNX Runtime and compare the logits."""
    x = torch.randn(*input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        expected = model.eval()(x).numpy()
    got = OnnxRuntimeBackend(onnx_path)(x.numpy())
    if got.shape != expected.shape:
        raise SegdeployError.at(onnx_path, f"output shape {got.shape} differs from PyTorch's {expected.shape}")
    agreement = float(np.mean(got.argmax(1) == expected.argmax(1)))
    return ParityReport(float(np.abs(got - expected).max()), agreement, tuple(input_shape))


def export_model(spec: ModelSpec, out: str | Path, checkpoint: str | Path | None = None, trust: bool = False,
                 batch: int = 1, dynamic_batch: bool = False, input_hw: tuple[int, int] | None = None,
                 simplify: bool = False, tiny: bool = False) -> tuple[Path, ParityReport]:
    """`segdeploy export`: build (and load) the model, export it, and prove the file in ONNX Runtime.

    The deployed network of a sliding-window model is the per-window network, so its default input
    is one window; whole-image models default to their evaluation size.
    """
    if batch < 1:
        raise SegdeployError.at("--batch", f"must be at least 1, got {batch}")
    model = build_model(spec, checkpoint, trust, tiny=tiny)
    hw = input_hw or default_input_hw(spec, tiny)
    path = export_onnx(model, out, (batch, 3, *hw), dynamic_batch=dynamic_batch, simplify=simplify)
    parity_batch = 2 if dynamic_batch else batch  # a dynamic file must also run at a batch it was not traced at
    return path, check_parity(model, path, (parity_batch, 3, *hw))


def default_input_hw(spec: ModelSpec, tiny: bool = False) -> tuple[int, int]:
    if tiny:
        return spec.tiny_input_size
    if spec.slide is not None:
        return (spec.slide.window, spec.slide.window)
    return spec.input_size
