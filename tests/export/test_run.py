"""export_model: the preflight comes before the file, the proof after it, at three sizes when H/W are free."""

from __future__ import annotations

import json

from segdeploy.export.onnx_export import ExportShape
from segdeploy.export.run import ExportConfig, export_model
from segdeploy.models import MODELS
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend

SPEC = MODELS["fcn8s_vgg16_voc"]


def test_preflight_before_writing_then_proof_at_three_sizes(tiny_model, tmp_path):
    out = tmp_path / "fcn8s.onnx"
    seen = []

    def on_preflight(preflight):
        seen.append((preflight, out.exists()))

    shape = ExportShape(1, *SPEC.tiny_input_size, dynamic_hw=True, size_divisor=SPEC.size_divisor)
    result = export_model(SPEC, tiny_model(SPEC), ExportConfig(out, shape),
                          make_engine=lambda name, path: OnnxRuntimeBackend(path, name=name), on_preflight=on_preflight)
    (preflight, existed), = seen
    assert not existed and preflight.static_axes == ("batch 1",) and preflight.frozen_ops == ()
    assert result.path == out and result.verification.passed and result.verification.engine == "onnxruntime"
    assert [i.input_shapes[0][2:] for i in result.verification.images] == [(64, 128), (77, 167), (103, 141)]
    assert json.loads(json.dumps(result.to_json()))["verification"]["passed"]
    assert abs(preflight.file_bytes - out.stat().st_size) < 0.01 * out.stat().st_size


def test_preflight_only_writes_nothing(tiny_model, tmp_path):
    out = tmp_path / "fcn8s.onnx"
    result = export_model(SPEC, tiny_model(SPEC), ExportConfig(out, ExportShape(2, 64, 64), preflight_only=True),
                          make_engine=lambda name, path: OnnxRuntimeBackend(path))
    assert result.path is None and result.verification is None and not out.exists()
    assert result.preflight.peak_bytes.keys() == {2}
