"""TensorRT int8 calibration table of an fp32 ONNX file, in the format ONNX Runtime's TensorRT provider reads.

Made with onnxruntime.quantization's calibrator on the CPU (no GPU needed) from the same calibration
batches and min/max method as the int8 QDQ file (`segdeploy.export.quantize`): one dynamic range,
max(|min|, |max|), per tensor of the fp32 graph, which TensorRT quantises symmetrically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from segdeploy.errors import SegdeployError
from segdeploy.export.quantize import calibration_reader

TABLE_NAME = "calibration.flatbuffers"  # what the provider reads; .cache (text) and .json come beside it


def write_tensorrt_calibration(fp32_path: str | Path, out_dir: str | Path, calibration: Sequence[np.ndarray]) -> Path:
    """Write `out_dir/calibration.flatbuffers` (and its text / JSON copies) for `fp32_path`; returns the table."""
    # 0.8 s to import: only for TensorRT int8 runs
    from onnxruntime.quantization import CalibrationMethod, create_calibrator, write_calibration_table

    if not calibration:
        raise SegdeployError.at(fp32_path, "TensorRT int8 calibration needs at least one image")
    fp32_path, out_dir = Path(fp32_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".calibrating.") as tmp:
        calibrator = create_calibrator(fp32_path, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=CalibrationMethod.MinMax)
        calibrator.collect_data(calibration_reader(input_name, calibration))
        write_calibration_table(calibrator.compute_data().data, dir=tmp)
        # the table last: its presence means the set is complete
        for name in ("calibration.cache", "calibration.json", TABLE_NAME):
            os.replace(Path(tmp) / name, out_dir / name)
    return out_dir / TABLE_NAME
