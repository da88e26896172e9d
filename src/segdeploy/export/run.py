"""`segdeploy export`: preflight, write the file, and prove it with `verify_engine` on the chosen engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from torch import nn

from segdeploy.errors import SegdeployError
from segdeploy.export.onnx_export import OPSET, ExportShape, export_program, save_program
from segdeploy.export.preflight import Preflight, run_preflight
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.backend import Backend
from segdeploy.verify.run import VerifyConfig, VerifyResult, verify_engine


@dataclass(frozen=True)
class ExportConfig:
    out: Path
    shape: ExportShape
    simplify: bool = False
    opset: int = OPSET  # ATTENTION_OPSET: each attention one Attention op
    engine: str = "onnxruntime"  # the engine the preflight checks and the file is proven on
    preflight_only: bool = False  # report, write nothing
    # The proof after writing. Without a data root it runs random inputs: at the export size, and
    # with a dynamic height/width at two more sizes; with a dynamic batch, two samples per call.
    check: VerifyConfig = field(default_factory=VerifyConfig)


@dataclass(frozen=True)
class ExportResult:
    preflight: Preflight
    path: Path | None  # None: preflight only
    verification: VerifyResult | None

    def to_json(self) -> dict:
        return {"path": None if self.path is None else str(self.path), "preflight": self.preflight.to_json(),
                "verification": None if self.verification is None else self.verification.to_json()}


def export_model(spec: ModelSpec, model: nn.Module, config: ExportConfig,
                 make_engine: Callable[[str, Path], Backend],
                 on_preflight: Callable[[Preflight], None] = lambda p: None) -> ExportResult:
    """Export `model` (eval mode), report the preflight before anything is written, write, verify.

    `make_engine(name, path)` builds the engine that runs the written file.
    """
    check_export_shape(spec, config.shape)
    program = export_program(model, config.shape, config.opset)
    preflight = run_preflight(spec.name, program, config.shape, config.engine)
    on_preflight(preflight)
    if config.preflight_only:
        return ExportResult(preflight, None, None)
    if preflight.blocking:
        raise SegdeployError.at(config.out, "not written: " + "; ".join(preflight.blocking[:3]) + " (preflight above)")
    path = save_program(program, config.out, config.simplify)
    verification = verify_engine(spec, model, make_engine(config.engine, path), _check(config, path), program)
    return ExportResult(preflight, path, verification)


def check_export_shape(spec: ModelSpec, shape: ExportShape) -> None:
    """A size the model cannot take is a usage error (before any export work)."""
    d = spec.size_divisor
    if d > 1 and (shape.height % d or shape.width % d):
        raise SegdeployError.at("--input-size", f"{shape.height}x{shape.width}: {spec.name} needs height and width "
                                                f"divisible by {d}")


def _check(config: ExportConfig, path: Path) -> VerifyConfig:
    check = replace(config.check, onnx=path)
    if check.data_root is not None or check.random_sizes:
        return check
    sizes = check_sizes(config.shape)
    return replace(check, random_sizes=sizes, images=len(sizes), batch=2 if config.shape.dynamic_batch else
                   config.shape.batch)


def check_sizes(shape: ExportShape) -> tuple[tuple[int, int], ...]:
    """The export size, and with a dynamic height/width two more sizes the model accepts: steps of its size
    divisor (13 px without one, so padding to a patch size is exercised), uneven so that pooling bins of
    2, 3 and 6 do not all divide them."""
    h, w = shape.height, shape.width
    if not shape.dynamic_hw:
        return ((h, w),)
    step = shape.size_divisor if shape.size_divisor > 1 else 13
    return (h, w), (h + step, w + 3 * step), (h + 3 * step, w + step)
