"""Layer-by-layer bisect: every intermediate value of an ONNX file against PyTorch's, in graph order.

The dynamo exporter names each ONNX value after the FX node that produced it and records the
PyTorch module path on each ONNX node (`pkg.torch.onnx.name_scopes`). So the model is exported
again in memory (nothing written) for its decomposed FX program; torch.fx's interpreter runs that
program on the failing input, and the file's values come from torch's own
`ONNXProgram.compute_values` (ONNX Runtime with those values exposed as outputs) on the file as it
is on disk, weights included. Each pair is scored with `torch.onnx.verification.VerificationInfo`
and judged with `torch.isclose`.

Memory stays bounded: PyTorch values are held only until a chunk of about `chunk_bytes` is full,
then ONNX Runtime computes exactly that chunk and both are dropped (the interpreter frees every
other value after its last use). The walk stops `context` values after the first failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from onnxscript import ir
from torch import nn
from torch.onnx.verification import VerificationInfo

from segdeploy.errors import SegdeployError, one_line
from segdeploy.export.onnx_export import ExportShape, export_program, recorded_module
from segdeploy.reporting.progress import progress_bar

CHUNK_BYTES = 512 * 2**20  # PyTorch values held before ONNX Runtime computes them (as much again on its side)
CONTEXT = 5  # values shown after the first failure


@dataclass(frozen=True)
class NodeDiff:
    """One ONNX value against the PyTorch value of the same name."""

    index: int  # position in graph order among the compared values
    value: str  # the value's name (= the FX node's)
    op_type: str
    node: str  # the ONNX node's name
    module: str  # PyTorch module path the exporter recorded ('' at the top level)
    module_class: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    passed: bool
    weights: tuple[str, ...]  # the node's initializer inputs (a corrupted weight shows up here)
    note: str = ""

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class BisectResult:
    onnx: Path
    input_shape: tuple[int, ...]
    atol: float
    rtol: float
    values_in_file: int  # node outputs of the file
    comparable: int  # of those, values PyTorch's program also computes
    compared: tuple[NodeDiff, ...]  # in graph order, up to `context` after the first failure
    engine_runs: int  # ONNX Runtime sessions (chunks) it took

    @property
    def first_failure(self) -> NodeDiff | None:
        return next((d for d in self.compared if not d.passed), None)

    def to_json(self) -> dict:
        first = self.first_failure
        return {"onnx": str(self.onnx), "input_shape": list(self.input_shape), "atol": self.atol, "rtol": self.rtol,
                "values_in_file": self.values_in_file, "comparable": self.comparable,
                "compared": len(self.compared), "engine_runs": self.engine_runs,
                "first_failure": None if first is None else first.to_json(),
                "values": [d.to_json() for d in self.compared]}


class _Done(Exception):
    """Stops the interpreter once the first failure and its context are recorded."""


class _ValueTap(torch.fx.Interpreter):
    """Runs the FX program and hands every value the ONNX file also has to `tap`, in graph order."""

    def __init__(self, module: torch.fx.GraphModule, wanted: dict[str, str],
                 tap: Callable[[str, torch.Tensor], None]) -> None:
        super().__init__(module)  # garbage_collect_values: each value is freed after its last use
        self.wanted = wanted  # FX node name -> ONNX value name
        self.tap = tap

    def run_node(self, n: torch.fx.Node):
        result = super().run_node(n)
        if n.name in self.wanted and isinstance(result, torch.Tensor):
            self.tap(self.wanted[n.name], result)
        return result


def bisect_onnx(model: nn.Module, onnx_path: str | Path, x: np.ndarray, atol: float, rtol: float,
                context: int = CONTEXT, chunk_bytes: int = CHUNK_BYTES, show_progress: bool = True,
                program: torch.onnx.ONNXProgram | None = None) -> BisectResult:
    """Compare every intermediate value of `onnx_path` with `model`'s on the (N, 3, H, W) input `x`.

    `program`: the in-memory export the file was written from, when the caller still has it (saves
    exporting `model` again).
    """
    onnx_path = Path(onnx_path)
    try:
        file_model = ir.load(str(onnx_path))
    except Exception as err:  # onnx raises DecodeError / ValueError / OSError on a bad file
        raise SegdeployError.at(onnx_path, f"cannot read it as ONNX ({str(err).splitlines()[0][:160]})") from err
    if program is None:  # traced at the input's own shape: FX names do not depend on which axes are dynamic
        program = export_program(model, ExportShape(*(int(v) for v in x.shape[:1] + x.shape[2:])))
    producers = {v.name: node for node in file_model.graph for v in node.outputs if v.name}
    wanted = _fx_to_onnx_names(program, file_model, producers)
    onnx_program = torch.onnx.ONNXProgram(file_model, program.exported_program)
    with progress_bar("bisect", len(wanted), unit="values", enabled=show_progress) as advance:
        walk = _Walk(onnx_program, producers, torch.from_numpy(np.ascontiguousarray(x)), atol, rtol, context,
                     chunk_bytes, advance)
        try:
            with torch.inference_mode():
                _ValueTap(program.exported_program.module(), wanted, walk.add).run(walk.x)
            walk.flush()
        except _Done:
            pass
        finally:
            onnx_program.release()
    shown = walk.diffs if walk.failed_at is None else walk.diffs[:walk.failed_at + context + 1]
    return BisectResult(onnx_path, tuple(x.shape), atol, rtol, len(producers), len(wanted), tuple(shown), walk.runs)


def _fx_to_onnx_names(program: torch.onnx.ONNXProgram, file_model: ir.Model, producers: dict) -> dict[str, str]:
    """FX node name -> ONNX value name, for the values both graphs have (the graph outputs are renamed)."""
    graph = program.exported_program.graph
    wanted = {n.name: n.name for n in graph.nodes if n.op == "call_function" and n.name in producers}
    fx_outputs = [a for a in next(n for n in graph.nodes if n.op == "output").args[0] if isinstance(a, torch.fx.Node)]
    for fx_node, value in zip(fx_outputs, file_model.graph.outputs):
        if value.name in producers:
            wanted[fx_node.name] = value.name
    return wanted


class _Walk:
    """Collects PyTorch values into chunks, has ONNX Runtime compute each chunk, records the verdicts."""

    def __init__(self, onnx_program, producers: dict, x: torch.Tensor, atol: float, rtol: float, context: int,
                 chunk_bytes: int, advance: Callable[[int], None]) -> None:
        self.onnx_program, self.producers, self.x = onnx_program, producers, x
        self.atol, self.rtol, self.context, self.chunk_bytes, self.advance = atol, rtol, context, chunk_bytes, advance
        self.pending: list[tuple[str, torch.Tensor]] = []
        self.pending_bytes = 0
        self.diffs: list[NodeDiff] = []
        self.runs = 0
        self.failed_at: int | None = None

    def add(self, name: str, value: torch.Tensor) -> None:
        self.pending.append((name, value))
        self.pending_bytes += value.numel() * value.element_size()
        if self.pending_bytes >= self.chunk_bytes or self._context_filled(len(self.pending)):
            self.flush()

    def _context_filled(self, extra: int = 0) -> bool:
        return self.failed_at is not None and len(self.diffs) + extra > self.failed_at + self.context

    def flush(self) -> None:
        if not self.pending:
            return
        computed = self._compute([name for name, _ in self.pending])
        for (name, expected), actual in zip(self.pending, computed, strict=True):
            self.diffs.append(self._diff(name, expected, actual))
            if self.failed_at is None and not self.diffs[-1].passed:
                self.failed_at = len(self.diffs) - 1
        self.advance(len(self.pending))
        self.pending, self.pending_bytes = [], 0
        if self._context_filled():
            raise _Done

    def _compute(self, names: list[str]) -> list[torch.Tensor | str]:
        """ONNX Runtime's values of `names`; one it cannot compute comes back as its error line. A chunk
        that fails is halved until the failing values are found (the others still compute)."""
        self.runs += 1
        try:
            return list(self.onnx_program.compute_values(names, (self.x,)))
        except Exception as err:  # ONNX Runtime's own exception types: the failure is the finding
            if len(names) == 1:
                return [one_line(str(err))[:200]]
            half = len(names) // 2
            return self._compute(names[:half]) + self._compute(names[half:])

    def _diff(self, name: str, expected: torch.Tensor, actual: torch.Tensor | str) -> NodeDiff:
        node = self.producers[name]
        module, module_class = recorded_module(node)
        weights = tuple(v.name for v in node.inputs if v is not None and v.is_initializer())
        base = dict(index=len(self.diffs), value=name, op_type=node.op_type, node=node.name or "",
                    module=module, module_class=module_class,
                    shape=tuple(expected.shape), weights=weights)
        if isinstance(actual, str):
            return NodeDiff(**base, max_abs=math.inf, max_rel=math.inf, passed=False,
                            note=f"ONNX Runtime cannot compute it: {actual}")
        if tuple(actual.shape) != tuple(expected.shape):
            return NodeDiff(**base, max_abs=math.inf, max_rel=math.inf, passed=False,
                            note=f"shape {tuple(actual.shape)} in the file, {tuple(expected.shape)} in PyTorch")
        expected, actual = _comparable(expected), _comparable(actual)
        info = VerificationInfo.from_tensors(name, expected, actual)
        passed = bool(torch.isclose(actual, expected, rtol=self.rtol, atol=self.atol).all())
        return NodeDiff(**base, max_abs=float(info.max_abs_diff), max_rel=float(info.max_rel_diff), passed=passed)


def _comparable(t: torch.Tensor) -> torch.Tensor:
    """Integer and boolean values (indices, masks) compare exactly as float64; floats as float32."""
    return t.to(torch.float32) if t.is_floating_point() else t.to(torch.float64)
