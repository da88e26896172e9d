"""Static int8 quantisation of an exported ONNX file: QDQ, per-channel weights, calibrated on real images.

The quantised file keeps the fp32 file's interface (input `input`, float32 logits out); ONNX Runtime
fuses each QuantizeLinear/DequantizeLinear pair around a Conv into an integer convolution, which
uses the VNNI dot-product instructions where the CPU has them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx

from segdeploy.errors import SegdeployError


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

        # Strided min/max calibration feeds the data in slices: it asks for the count, then each range.
        def __len__(self) -> int:
            return len(batches)

        def set_range(self, start_index: int, end_index: int) -> None:
            self._it: Iterator[np.ndarray] = iter(batches[start_index:end_index])

    return _Batches()


def quantize_int8(fp32_path: str | Path, out: str | Path, calibration: Sequence[np.ndarray]) -> Path:
    """Write a static QDQ int8 copy of `fp32_path`, calibrated (min/max) on `calibration` batches.

    quant_pre_process runs first (symbolic shape inference + graph optimisation) as ONNX Runtime
    recommends, so that every Conv has the shapes the quantiser needs and BatchNorms are folded.
    Activations are uint8 and weights int8 per output channel: the u8s8 pairing of x86's VNNI
    instructions, which (unlike plain AVX2/AVX-512) do not saturate, so no reduced range is needed.
    """
    # 0.8 s to import: only for int8 runs
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise SegdeployError.at(fp32_path, "int8 calibration needs at least one image")
    fp32_path, out = Path(fp32_path), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), auto_merge=True)
        quantized = Path(tmp) / out.name
        try:
            quantize_static(
                str(prepared), str(quantized), calibration_reader(input_name, calibration),
                quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                # Strided min/max keeps at most a few batches of every intermediate tensor in memory:
                # full-size Cityscapes activations are hundreds of MB per image.
                extra_options={"CalibStridedMinMax": 1})
        except Exception as err:  # the quantiser raises plain Exceptions with long messages
            raise SegdeployError.at(fp32_path, f"int8 quantisation failed: {(str(err).strip().splitlines() or [type(err).__name__])[0][:200]}") from err
        os.replace(quantized, out)
    return out


def count_qdq_nodes(path: str | Path) -> tuple[int, int]:
    """(QuantizeLinear, DequantizeLinear) node counts of an ONNX file."""
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    return ops.count("QuantizeLinear"), ops.count("DequantizeLinear")
