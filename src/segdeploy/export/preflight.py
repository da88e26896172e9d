"""Export preflight: what a file will fix, what its engine cannot run, what it will cost. Nothing is written.

Read from the exporter's in-memory program (`export_program`):
- frozen shapes: axes asked to stay dynamic that torch.export fixed anyway, and the ops that pin a
  dynamic axis to a number (a broadcast against a constant of the traced size, a reshape / expand /
  resize / pad / pool whose output no longer depends on the input's size). The exporter records
  symbolic shapes ("32*height_blocks") on every value, so this is read off the graph, not guessed.
  Axes left static by request are listed as such: every op of a static file is tied to its size.
- the op types the chosen engine has no kernel for (ONNX Runtime's kernel registry; OpenVINO's
  own `query_model` on the converted model);
- peak memory per batch size: the weights plus the largest set of intermediate tensors alive at
  once in graph order (the FX program's shapes at this size; views are free). Engines add
  workspace (im2col, pre-packed weights), so read it as a lower bound;
- the file size (the serialised model, before any --simplify).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import asdict, dataclass

import onnx
import onnxruntime.capi.onnxruntime_pybind11_state as ort_state
import torch
from onnxscript import ir

from segdeploy.export.onnx_export import ExportShape, recorded_module
from segdeploy.runtime.openvino_backend import openvino_available

# Ops that compute a value from all of a dynamic axis: a static output is their purpose, not a freeze.
_REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "GlobalAveragePool", "GlobalMaxPool",
               "GlobalLpPool", "ArgMax", "ArgMin", "Shape", "Size"}
# Broadcasting ops: a static output axis != 1 where an input's axis is dynamic pins that axis.
_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Where", "Max", "Min", "Sum", "Mean", "PRelu", "Equal",
                "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "BitShift"}
# Ops whose output size follows their input's: a fully static output from a dynamic input is a freeze.
# (Slice, Gather and Split are left out: taking the first k tokens is size-independent by design.)
_SIZE_FOLLOWING = {"Reshape", "Expand", "Resize", "Upsample", "Pad", "Tile", "AveragePool", "MaxPool", "LpPool",
                   "Conv", "ConvTranspose", "GatherND", "GatherElements", "ScatterND"}
_VIEW_OPS = {"view", "_unsafe_view", "permute", "expand", "slice", "select", "squeeze", "unsqueeze", "t",
             "transpose", "alias", "as_strided", "detach", "unflatten"}
MEMORY_BATCHES = (1, 2, 4, 8, 16)  # estimated for a dynamic batch


@dataclass(frozen=True)
class FrozenOp:
    """An op that ties a dynamic input axis to the traced size."""

    op_type: str
    node: str
    module: str  # the PyTorch module path the exporter recorded
    axes: tuple[str, ...]  # the input axes it freezes ("?" when the shape names no input axis)
    detail: str


@dataclass(frozen=True)
class Preflight:
    model: str
    input_shape: tuple[int | str, ...]  # as the file declares it (names for dynamic axes)
    static_axes: tuple[str, ...]  # fixed by this export, as asked
    frozen_axes: dict[str, int]  # asked to stay dynamic, fixed by torch.export anyway
    frozen_ops: tuple[FrozenOp, ...]
    engine: str
    unsupported_ops: tuple[str, ...]  # op types the engine cannot run
    engine_note: str  # e.g. "openvino is not installed": the engine check did not run
    weight_bytes: int
    activation_bytes_per_sample: int
    peak_bytes: dict[int, int]  # batch size -> estimated peak memory
    file_bytes: int

    @property
    def blocking(self) -> list[str]:
        """What makes the file unusable as asked, in words (empty: go ahead). Frozen ops are reported,
        not blocking: the export's own check at several sizes is what proves a dynamic file."""
        problems = [f"torch.export fixed the {name} at {size}" for name, size in self.frozen_axes.items()]
        if self.unsupported_ops:
            problems.append(f"{self.engine} cannot run {', '.join(self.unsupported_ops)}")
        return problems

    def to_json(self) -> dict:
        out = asdict(self)
        out["peak_bytes"] = {str(b): v for b, v in self.peak_bytes.items()}
        out["blocking"] = self.blocking
        return out


def run_preflight(model_name: str, program: torch.onnx.ONNXProgram, shape: ExportShape, engine: str) -> Preflight:
    """The preflight of `program`, exported for `shape`, to run on `engine`."""
    graph = program.model.graph
    dims = tuple(d if isinstance(d, int) else str(d) for d in graph.inputs[0].shape)
    names = {0: "batch", 2: "height", 3: "width"}
    dynamic = shape.dynamic_axes()
    frozen_axes = {name: int(dims[axis]) for axis, name in dynamic.items() if isinstance(dims[axis], int)}
    static = tuple(f"{name} {dims[axis]}" for axis, name in names.items() if axis not in dynamic)
    symbols = {sym: names[axis] for axis, dim in enumerate(dims) if isinstance(dim, str) and axis in names
               for sym in _identifiers(dim)}
    unsupported, note = _unsupported_ops(program, engine)
    weights = sum(v.const_value.nbytes for v in graph.initializers.values() if v.const_value is not None)
    per_sample = _activation_bytes_per_sample(program.exported_program, shape)
    batches = MEMORY_BATCHES if shape.dynamic_batch else (shape.batch,)
    return Preflight(model_name, dims, static, frozen_axes, tuple(_frozen_ops(graph, symbols)), engine, unsupported,
                     note, weights, per_sample, {b: weights + b * per_sample for b in batches},
                     program.model_proto.ByteSize())


def _identifiers(expression: str) -> list[str]:
    return re.findall(r"[A-Za-z_]\w*", expression)


def _symbolic(value: ir.Value | None) -> bool:
    return value is not None and value.shape is not None and any(not isinstance(d, int) for d in value.shape)


def _static(value: ir.Value) -> bool:
    return value.shape is not None and all(isinstance(d, int) for d in value.shape)


def _frozen_ops(graph: ir.Graph, symbols: dict[str, str]) -> list[FrozenOp]:
    found = []
    for node in graph:
        if node.op_type in _REDUCTIONS:
            continue
        inputs = [v for v in node.inputs if v is not None and not v.is_initializer()]
        dynamic_inputs = [v for v in inputs if _symbolic(v)]
        outputs = [v for v in node.outputs if v.shape is not None]
        if not dynamic_inputs or not outputs:
            continue
        detail = ""
        if node.op_type in _ELEMENTWISE:
            detail, axes = _broadcast_freeze(dynamic_inputs, outputs[0], symbols)
        elif node.op_type in _SIZE_FOLLOWING and all(_static(v) for v in outputs):
            axes = sorted({symbols[s] for v in dynamic_inputs for d in v.shape if not isinstance(d, int)
                           for s in _identifiers(str(d)) if s in symbols})
            detail = f"output {list(outputs[0].shape)} is static while its input is {list(dynamic_inputs[0].shape)}"
        if detail:
            found.append(FrozenOp(node.op_type, node.name or "", recorded_module(node)[0], tuple(axes) or ("?",),
                                  detail))
    return found


def _broadcast_freeze(inputs: list[ir.Value], output: ir.Value, symbols: dict[str, str]) -> tuple[str, list[str]]:
    """An output axis fixed to a number (not 1) where an input's aligned axis is dynamic."""
    out_dims = list(output.shape)
    for value in inputs:
        dims = list(value.shape)
        for k in range(1, min(len(dims), len(out_dims)) + 1):
            got, want = out_dims[-k], dims[-k]
            if isinstance(got, int) and got != 1 and not isinstance(want, int):
                axes = sorted({symbols[s] for s in _identifiers(str(want)) if s in symbols}) or ["?"]
                return f"broadcast fixes axis {len(out_dims) - k} ({want}) to {got}", axes
    return "", []


def _unsupported_ops(program: torch.onnx.ONNXProgram, engine: str) -> tuple[tuple[str, ...], str]:
    if engine.startswith("openvino"):
        if not openvino_available():
            return (), "openvino is not installed (pip install -e '.[bench]'): its op support was not checked"
        return _openvino_unsupported(program), ""
    return onnxruntime_unsupported(program.model), ""


def onnxruntime_unsupported(model: ir.Model) -> tuple[str, ...]:
    """Op types with no CPU kernel for the model's opset (ONNX function ops ORT expands count as supported)."""
    kernels: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for k in ort_state.get_all_opkernel_def():
        if k.provider == "CPUExecutionProvider":
            kernels.setdefault((k.domain, k.op_name), []).append(tuple(k.version_range))
    missing = set()
    for node in model.graph:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        version = model.opset_imports.get(node.domain, model.opset_imports.get("", 1))
        ranges = kernels.get((domain, node.op_type), [])
        if not any(low <= version <= high for low, high in ranges) and not _onnx_function(node.op_type, domain, version):
            missing.add(f"{domain + '::' if domain else ''}{node.op_type} (opset {version})")
    return tuple(sorted(missing))


def _onnx_function(op_type: str, domain: str, version: int) -> bool:
    try:
        schema = onnx.defs.get_schema(op_type, version, domain)
    except onnx.defs.SchemaError:
        return False
    return schema.has_function or schema.has_context_dependent_function


def _openvino_unsupported(program: torch.onnx.ONNXProgram) -> tuple[str, ...]:
    import openvino as ov  # optional dependency (the `bench` extra)

    core = ov.Core()
    try:
        model = core.read_model(program.model_proto.SerializeToString())
    except Exception as err:  # the ONNX frontend names the op it has no conversion for
        return (f"conversion failed: {str(err).strip().splitlines()[0][:160]}",)
    supported = core.query_model(model, "CPU")
    return tuple(sorted({op.get_type_name() for op in model.get_ops() if op.get_friendly_name() not in supported}))


def _activation_bytes_per_sample(exported: torch.export.ExportedProgram, shape: ExportShape) -> int:
    """Peak of live intermediate bytes in graph order (each value freed after its last use), per sample
    at the requested size (the program may have been traced at a larger example, see ExportShape)."""
    user_inputs = set(exported.graph_signature.user_inputs)
    nodes = list(exported.graph.nodes)
    last_use = {arg: i for i, node in enumerate(nodes) for arg in node.all_input_nodes}
    live = peak = 0
    sizes: dict[torch.fx.Node, int] = {}
    for i, node in enumerate(nodes):
        if node.op == "call_function" or (node.op == "placeholder" and node.name in user_inputs):
            sizes[node] = 0 if _is_view(node) else _nbytes(node.meta.get("val"))
            live += sizes[node]
            peak = max(peak, live)
        for arg in node.all_input_nodes:
            if last_use.get(arg) == i:
                live -= sizes.pop(arg, 0)
    batch, _, height, width = shape.trace_dims()
    return int(peak / batch * (shape.height * shape.width) / (height * width))


def _is_view(node: torch.fx.Node) -> bool:
    if node.target is operator.getitem:
        return True
    packet = getattr(node.target, "_overloadpacket", None)
    return packet is not None and packet.__name__ in _VIEW_OPS


def _nbytes(value) -> int:
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if not isinstance(value, torch.Tensor):
        return 0
    return math.prod(_hint(d) for d in value.shape) * value.element_size()


def _hint(dim) -> int:
    """A symbolic size's value at the traced example."""
    return dim if isinstance(dim, int) else int(dim.node.hint)
