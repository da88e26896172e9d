"""Static int8 quantisation of an exported ONNX file: QDQ, per-channel weights, calibrated on real images.

The quantised file keeps the fp32 file's interface (input `input`, float32 logits out); ONNX Runtime
fuses each QuantizeLinear/DequantizeLinear pair around a Conv or MatMul into an integer kernel,
which uses the VNNI dot-product instructions where the CPU has them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from segdeploy.errors import SegdeployError
from segdeploy.runtime.machine import available_memory_bytes

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# A transformer (a graph with Softmax) quantises only the inputs of its weight matrix products
# (`attention_matmuls` stay float) and keeps their outputs in float: softmax, LayerNorm, GELU and the residual sums then read float tensors.
# Their inputs span orders of magnitude (attention scores, the residual stream) where 256 levels
# lose accuracy, and quantising them saves no time: ORT runs them in float between a
# DequantizeLinear and a QuantizeLinear anyway, while int8 MatMuls with a float output fuse into
# one integer kernel (MatMulIntegerToFloat).
TRANSFORMER_OP_TYPES = ("Conv", "MatMul", "Gemm")


@dataclass(frozen=True)
class Int8Settings:
    """What an int8 file is made with besides its fp32 file and calibration images."""

    calibration: str = "minmax"  # one of CALIBRATION_METHODS
    nodes_to_exclude: tuple[str, ...] = ()  # node names of the pre-processed graph kept in float

    def digest(self) -> str:
        """A short stable hash, so a file made with other settings is never reused."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]


def calibration_reader(input_name: str, batches: Sequence[np.ndarray]):
    """An onnxruntime.quantization CalibrationDataReader over float32 (N, 3, H, W) batches."""
    from onnxruntime.quantization import CalibrationDataReader  # 0.8 s to import: only for int8 runs

    class _Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.set_range(0, len(batches))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else {input_name: np.ascontiguousarray(batch, dtype=np.float32)}

        def rewind(self) -> None:
            self.set_range(0, len(batches))

        # Strided calibration feeds the data in slices: it asks for the count, then each range.
        def __len__(self) -> int:
            return len(batches)

        def set_range(self, start_index: int, end_index: int) -> None:
            self._it: Iterator[np.ndarray] = iter(batches[start_index:end_index])

    return _Batches()


def preprocess_for_int8(fp32_path: str | Path, out: str | Path) -> Path:
    """ONNX Runtime's quant_pre_process (symbolic shape inference + graph optimisation), as it
    recommends before quantising: every Conv gets the shapes the quantiser needs, BatchNorms fold.
    Node names of `nodes_to_exclude` refer to this graph; it is deterministic for a given file."""
    from onnxruntime.quantization.shape_inference import quant_pre_process  # 0.8 s: only for int8 runs

    try:
        quant_pre_process(str(fp32_path), str(out), auto_merge=True)
    except Exception:  # ORT's symbolic shape inference gives up on some exported graphs (raises TypeError)
        # onnx's own shape inference (still run) gives the quantiser what it needs for these graphs
        quant_pre_process(str(fp32_path), str(out), skip_symbolic_shape=True)
    return Path(out)


def quantize_int8(fp32_path: str | Path, out: str | Path, calibration: Sequence[np.ndarray],
                  settings: Int8Settings = Int8Settings(), calibration_cache: Path | None = None) -> Path:
    """Write a static QDQ int8 copy of `fp32_path`, calibrated on `calibration` batches.

    `calibration_cache` (a JSON file) keeps the calibrated ranges: a second call with other
    excluded nodes quantises without running the calibration images again.
    """
    fp32_path, out = Path(fp32_path), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as tmp:
        prepared = preprocess_for_int8(fp32_path, Path(tmp) / "prepared.onnx")
        quantized = quantize_prepared(prepared, Path(tmp) / out.name, calibration, settings, calibration_cache,
                                      source=fp32_path)
        os.replace(quantized, out)
    return out


def quantize_prepared(prepared: Path, out: Path, calibration: Sequence[np.ndarray], settings: Int8Settings,
                      calibration_cache: Path | None = None, source: Path | None = None) -> Path:
    """quantize_static on a pre-processed file (see `preprocess_for_int8`).

    Activations are uint8 and weights int8 per output channel: the u8s8 pairing of x86's VNNI
    instructions, which (unlike plain AVX2/AVX-512) do not saturate, so no reduced range is needed.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    source = source or prepared
    if settings.calibration not in CALIBRATION_METHODS:
        raise SegdeployError.at("--calibration", f"unknown method {settings.calibration!r}; choose one of "
                                f"{', '.join(CALIBRATION_METHODS)}")
    if not calibration and not (calibration_cache and calibration_cache.is_file()):
        raise SegdeployError.at(source, "int8 calibration needs at least one image")
    model = onnx.load(str(prepared), load_external_data=False)
    if calibration and not (calibration_cache and calibration_cache.is_file()):
        check_calibration_memory(model, source)
    # One image at a time keeps at most one image's intermediate tensors in memory: full-size
    # Cityscapes activations are hundreds of MB per image.
    options: dict[str, object] = {"CalibStridedMinMax": 1}
    exclude = list(settings.nodes_to_exclude)
    if is_transformer(model):
        options["OpTypesToExcludeOutputQuantization"] = list(TRANSFORMER_OP_TYPES)
        exclude += attention_matmuls(model)
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[settings.calibration]
    try:
        quantize_static(
            str(prepared), str(out), calibration_reader(model.graph.input[0].name, calibration),
            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=method, op_types_to_quantize=op_types_to_quantize(model),
            nodes_to_exclude=exclude, calibration_cache_path=calibration_cache,
            extra_options=options)
    except Exception as err:  # the quantiser raises plain Exceptions with long messages
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise SegdeployError.at(source, f"int8 quantisation failed: {first}") from err
    return out


def op_types_to_quantize(model: onnx.ModelProto) -> list[str]:
    """The op types to quantise: every one ORT can for a CNN, the matrix products for a transformer."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry  # 0.8 s: only for int8 runs

    if is_transformer(model):
        return list(TRANSFORMER_OP_TYPES)
    return sorted(set(QDQRegistry) | set(QLinearOpsRegistry))  # what quantize_static takes by default


def attention_matmuls(model: onnx.ModelProto) -> list[str]:
    """MatMul nodes multiplying two activations (queries x keys, scores x values), kept in float.

    Calibrating them would keep every layer's (heads, T, T) scores in memory at once (Segmenter-L at
    a 768 window: 24 x 340 MB), and both operands would need quantising at run time.
    """
    constants = {t.name for t in model.graph.initializer} | {o for n in model.graph.node if n.op_type == "Constant"
                                                             for o in n.output}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and not constants & set(n.input)]


def is_transformer(model: onnx.ModelProto) -> bool:
    return any(node.op_type in ("Softmax", "Attention") for node in model.graph.node)


def is_transformer_file(path: str | Path) -> bool:
    return is_transformer(onnx.load(str(path), load_external_data=False))


def check_calibration_memory(model: onnx.ModelProto, source: Path) -> None:
    """Refuse a calibration whose attention scores alone would not fit in memory.

    ONNX Runtime's calibrator calibrates every tensor of every MatMul, nodes excluded from
    quantisation too, and holds them for the whole image: for MatMul-Softmax-MatMul attention that
    is each layer's (heads, T, T) scores and probabilities (measured: 1.36 GB per layer of a 16-head
    ViT at a 768² window). The file exported with one Attention op per attention has none.
    """
    shapes = {info.name: info.type.tensor_type.shape for info in model.graph.value_info}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)
    held, attentions = 0, 0
    for softmax in (node for node in model.graph.node if node.op_type == "Softmax"):
        # Shape inference leaves the scores' dims unknown (they come out of a Reshape), but the
        # values, (..., T, d), that the probabilities multiply say T. A symbolic dim (the batch)
        # counts as 1: calibration runs one image at a time.
        for matmul in (n for n in consumers.get(softmax.output[0], []) if n.op_type == "MatMul"):
            values = shapes.get(matmul.input[1])
            if values is not None and len(values.dim) >= 2 and values.dim[-2].dim_value:
                rows = int(np.prod([d.dim_value or 1 for d in values.dim[:-1]]))
                held += 2 * 4 * rows * values.dim[-2].dim_value  # scores and probabilities, float32
                attentions += 1
    available = available_memory_bytes()
    if held > available / 2:
        raise SegdeployError.at(source, f"int8 calibration would hold at least {held / 2**30:.1f} GiB of attention "
                                        f"scores ({attentions} MatMul-Softmax-MatMul attentions; "
                                        f"{available / 2**30:.1f} GiB available): quantise the file exported with "
                                        f"one Attention op per attention (segdeploy export --fuse-attention)")


def count_qdq_nodes(path: str | Path) -> tuple[int, int]:
    """(QuantizeLinear, DequantizeLinear) node counts of an ONNX file."""
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    return ops.count("QuantizeLinear"), ops.count("DequantizeLinear")
