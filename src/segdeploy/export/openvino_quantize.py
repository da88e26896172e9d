"""OpenVINO int8: NNCF post-training quantisation of the fp32 ONNX file into an OpenVINO IR.

What a skilled OpenVINO user does to get its int8 speed (optional dependencies: openvino, nncf).
The same calibration images as ONNX Runtime's int8 file, so the two int8 engines differ only in
their quantiser and kernels.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from segdeploy.errors import SegdeployError
from segdeploy.export.quantize import is_transformer


def nncf_available() -> bool:
    try:
        import nncf  # noqa: F401
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def quantize_openvino_int8(fp32_path: str | Path, out_xml: str | Path, calibration: Sequence[np.ndarray]) -> Path:
    """Write `out_xml` (+ its .bin): `fp32_path` quantised by nncf.quantize on `calibration` batches.

    NNCF's defaults, as its documentation runs them: the performance preset (symmetric int8
    activations), and its transformer scheme (attention inputs quantised, LayerNorm/softmax/GELU
    kept in float, SmoothQuant off) for a graph with Softmax. Weights stay fp32 in the IR.
    """
    import nncf  # optional dependency (the `bench` extra); 3 s to import
    import openvino as ov  # optional dependency (the `bench` extra)

    if not calibration:
        raise SegdeployError.at(fp32_path, "int8 calibration needs at least one image")
    fp32_path, out_xml = Path(fp32_path), Path(out_xml)
    transformer = is_transformer(onnx.load(str(fp32_path), load_external_data=False))
    model = ov.Core().read_model(str(fp32_path))
    dataset = nncf.Dataset([np.ascontiguousarray(b, dtype=np.float32) for b in calibration])
    try:
        quantized = nncf.quantize(model, dataset, subset_size=len(calibration),
                                  model_type=nncf.ModelType.TRANSFORMER if transformer else None)
    except Exception as err:  # NNCF raises its own and OpenVINO's exception types
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise SegdeployError.at(fp32_path, f"NNCF quantisation failed: {first}") from err
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_xml.parent, prefix=f".{out_xml.stem}.") as tmp:
        staged = Path(tmp) / out_xml.name
        ov.save_model(quantized, str(staged), compress_to_fp16=False)
        # the .bin first: an .xml present means its weights are complete
        os.replace(staged.with_suffix(".bin"), out_xml.with_suffix(".bin"))
        os.replace(staged, out_xml)
    return out_xml
