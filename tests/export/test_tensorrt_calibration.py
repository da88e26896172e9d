"""The TensorRT int8 calibration table: one dynamic range per tensor, from the calibration images, on the CPU."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from segdeploy.export.tensorrt_calibration import TABLE_NAME, write_tensorrt_calibration


def _conv_relu(path) -> None:
    weight = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["conv"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["conv"], ["logits"])],
        "conv_relu",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 4, 8, 8])],
        [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


def test_table_holds_the_max_magnitude_of_each_tensor_over_the_calibration_batches(tmp_path):
    model = tmp_path / "model.onnx"
    _conv_relu(model)
    batches = [np.random.default_rng(i).standard_normal((1, 3, 8, 8), dtype=np.float32) * (i + 1) for i in range(3)]
    table = write_tensorrt_calibration(model, tmp_path / "table", batches)
    assert table.name == TABLE_NAME and table.stat().st_size > 0
    ranges = dict(line.split() for line in (table.parent / "calibration.cache").read_text().splitlines())
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    logits = [session.run(["logits"], {"input": b})[0] for b in batches]
    assert set(ranges) >= {"conv", "logits"}
    np.testing.assert_allclose(float(ranges["logits"]), max(float(np.abs(x).max()) for x in logits), rtol=1e-6)
    assert sorted(p.name for p in table.parent.iterdir()) == ["calibration.cache", "calibration.flatbuffers",
                                                             "calibration.json"]
