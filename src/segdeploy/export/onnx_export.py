"""Export a model to ONNX with the dynamo exporter: the in-memory program, and the checked file."""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from onnxscript import ir
from torch import nn

from segdeploy.errors import SegdeployError
from segdeploy.export.translations import TRANSLATIONS
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.atomic import write_bytes_atomic

OPSET = 18
ATTENTION_OPSET = 23  # the first opset with the Attention op: one node per attention, scores inside it
MAX_SIDE = 8192  # the largest height or width a dynamic file declares


@dataclass(frozen=True)
class ExportShape:
    """The input an export is made for, and which of its axes stay free in the file."""

    batch: int
    height: int
    width: int
    dynamic_batch: bool = False
    dynamic_hw: bool = False
    size_divisor: int = 1  # a dynamic height/width stays a multiple of this
    channels: int = 3

    @property
    def dims(self) -> tuple[int, int, int, int]:
        return self.batch, self.channels, self.height, self.width

    def trace_dims(self) -> tuple[int, int, int, int]:
        """The example the exporter traces: a dynamic axis traced at 1 (one block) would be fixed at 1
        by torch.export's 0/1 specialisation, so it is traced at 2 instead."""
        d = self.size_divisor
        batch = max(self.batch, 2) if self.dynamic_batch else self.batch
        if not self.dynamic_hw:
            return batch, self.channels, self.height, self.width
        return batch, self.channels, max(self.height, 2 * d), max(self.width, 2 * d)

    def dynamic_axes(self) -> dict[int, str]:
        """Axis -> name of every axis the file must leave free."""
        return {**({0: "batch"} if self.dynamic_batch else {}), **({2: "height", 3: "width"} if self.dynamic_hw else {})}


def export_program(model: nn.Module, shape: ExportShape, opset: int = OPSET, example: torch.Tensor | None = None,
                   dynamic_dims: dict | None = None) -> torch.onnx.ONNXProgram:
    """The exporter's in-memory result for `model` (eval mode): the ONNX model (input `input`, output
    `output`) and the decomposed FX program it was translated from. Nothing is written.

    `example`: the traced input (default: random float32 of `shape.trace_dims()`); `dynamic_dims`
    ({axis: torch.export.Dim}) frees more axes, for inputs that are not NCHW (folded uint8 pixels).
    """
    model = model.eval()
    example = torch.randn(*shape.trace_dims()) if example is None else example
    dims = _dynamic_dims(shape) | (dynamic_dims or {})
    try:
        with _quiet_exporter():
            return torch.onnx.export(model, (example,), dynamo=True, opset_version=opset, input_names=["input"],
                                     output_names=["output"],
                                     dynamic_shapes={_forward_arg_name(model): dims} if dims else None,
                                     custom_translation_table=TRANSLATIONS)
    except Exception as err:
        raise SegdeployError.at("torch.onnx.export", f"failed: {_cause(err)}") from err


def _cause(err: Exception) -> str:
    """The line of the exporter's long report that says what went wrong (after its "Exception summary")."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for i, line in enumerate(lines[:-1]):
        if line.endswith("Exception summary"):
            return lines[i + 1][:300]
    return (lines[0] if lines else type(err).__name__)[:300]


def _dynamic_dims(shape: ExportShape) -> dict:
    axes = {}
    if shape.dynamic_batch:
        axes[0] = torch.export.Dim("batch", min=1, max=1024)
    if shape.dynamic_hw:
        d = shape.size_divisor
        for axis, name in ((2, "height"), (3, "width")):
            axes[axis] = (d * torch.export.Dim(f"{name}_blocks", min=1, max=MAX_SIDE // d) if d > 1
                          else torch.export.Dim(name, min=1, max=MAX_SIDE))
    return axes


def frozen_input_axes(program: torch.onnx.ONNXProgram, shape: ExportShape) -> dict[str, int]:
    """Axes asked to be dynamic that the file fixes anyway (name -> the size it fixes them at)."""
    dims = program.model.graph.inputs[0].shape
    return {name: int(dims[axis]) for axis, name in shape.dynamic_axes().items() if isinstance(dims[axis], int)}


def save_program(program: torch.onnx.ONNXProgram, out: str | Path, simplify: bool = False) -> Path:
    """Write the program as one self-contained file, optionally simplified, onnx.checker-ed, atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.stem}.")) / out.name
    try:
        program.save(str(tmp), external_data=False)
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


def export_onnx(model: nn.Module, out: str | Path, input_shape: tuple[int, int, int, int],
                dynamic_batch: bool = False, dynamic_hw: bool = False, size_divisor: int = 1,
                simplify: bool = False, opset: int = OPSET, example: torch.Tensor | None = None,
                dynamic_dims: dict | None = None) -> Path:
    """Export `model` to `out` for `input_shape`, with the batch and/or height and width left free
    (`example`, `dynamic_dims`: see `export_program`).

    Refuses (SegdeployError) when torch.export fixes an axis that was asked to stay free.
    """
    batch, channels, height, width = input_shape
    shape = ExportShape(batch, height, width, dynamic_batch, dynamic_hw, size_divisor, channels)
    program = export_program(model, shape, opset, example, dynamic_dims)
    frozen = frozen_input_axes(program, shape)
    if frozen:
        fixed = ", ".join(f"{name} at {size}" for name, size in frozen.items())
        raise SegdeployError.at(out, f"torch.export fixed the {fixed}: the model's code ties it to the traced size")
    return save_program(program, out, simplify)


def recorded_module(node: ir.Node) -> tuple[str, str]:
    """(module path, module class) the exporter recorded on an ONNX node; ('', '') at the top level.

    The exporter stores them as Python list reprs, the node's own name last:
    `pkg.torch.onnx.name_scopes` = "['', 'backbone', 'backbone.layer1', 'conv2d_3']".
    """
    scopes = _literal_list(node.metadata_props.get("pkg.torch.onnx.name_scopes"))
    classes = _literal_list(node.metadata_props.get("pkg.torch.onnx.class_hierarchy"))
    return (scopes[-2] if len(scopes) >= 2 else ""), (classes[-2] if len(classes) >= 2 else "")


def _literal_list(text: str | None) -> list[str]:
    try:
        value = ast.literal_eval(text) if text else []
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


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


def default_input_hw(spec: ModelSpec, tiny: bool = False) -> tuple[int, int]:
    """The deployed network's input: one window for sliding-window models, else the evaluation size."""
    if tiny:
        return spec.tiny_input_size
    if spec.slide is not None:
        return (spec.slide.window, spec.slide.window)
    return spec.input_size
