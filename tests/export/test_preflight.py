"""The export preflight on small networks whose frozen shapes, ops and memory are known."""

from __future__ import annotations

import onnx
import pytest
import torch
import torch.nn.functional as F
from onnxscript import ir
from torch import nn

from segdeploy.export.onnx_export import ExportShape, export_program, save_program
from segdeploy.export.preflight import MEMORY_BATCHES, onnxruntime_unsupported, run_preflight
from segdeploy.runtime.openvino_backend import openvino_available


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.head = nn.Conv2d(16, 5, 1)

    def forward(self, x):
        y = self.head(F.relu(self.conv(x)))
        return F.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=False)


class CountTriggeredTable(nn.Module):
    """Segmenter's old position-table rule: a Python branch on the token count, fixed at the traced size."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 16, stride=16)
        self.table = nn.Parameter(torch.randn(1, 16, 8))  # a 4x4 grid

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (N, h*w, 8)
        table = self.table
        if tokens.shape[1] != table.shape[1]:
            grid = table.transpose(1, 2).reshape(1, 8, 4, 4)
            table = F.interpolate(grid, size=(x.shape[2] // 16, x.shape[3] // 16)).flatten(2).transpose(1, 2)
        return tokens + table


@pytest.fixture(scope="module")
def static_program():
    torch.manual_seed(0)
    return export_program(ConvNet().eval(), ExportShape(1, 32, 48))


def test_static_export(static_program, tmp_path):
    pre = run_preflight("convnet", static_program, ExportShape(1, 32, 48), "onnxruntime")
    assert pre.static_axes == ("batch 1", "height 32", "width 48") and pre.input_shape == (1, 3, 32, 48)
    assert pre.frozen_axes == {} and pre.frozen_ops == () and pre.unsupported_ops == () and pre.blocking == []
    params = (16 * 3 * 9 + 16 + 5 * 16 + 5) * 4
    assert params <= pre.weight_bytes <= params + 64  # and the resize's few int64 size constants
    biggest = 2 * 16 * 32 * 48 * 4  # the conv output and its ReLU are alive together
    assert biggest <= pre.activation_bytes_per_sample <= biggest + 3 * 5 * 32 * 48 * 4 + 3 * 32 * 48 * 4
    assert pre.peak_bytes == {1: pre.weight_bytes + pre.activation_bytes_per_sample}
    written = save_program(static_program, tmp_path / "m.onnx")
    assert pre.file_bytes == written.stat().st_size


def test_dynamic_batch_memory_is_linear_in_the_batch():
    program = export_program(ConvNet().eval(), ExportShape(1, 32, 48, dynamic_batch=True, dynamic_hw=True))
    pre = run_preflight("convnet", program, ExportShape(1, 32, 48, dynamic_batch=True, dynamic_hw=True), "onnxruntime")
    assert pre.static_axes == () and pre.frozen_axes == {} and pre.frozen_ops == ()
    assert tuple(pre.peak_bytes) == MEMORY_BATCHES
    assert pre.peak_bytes[4] - pre.peak_bytes[2] == 2 * (pre.peak_bytes[2] - pre.peak_bytes[1]) > 0
    assert isinstance(pre.input_shape[0], str) and isinstance(pre.input_shape[2], str)


def test_a_branch_on_the_token_count_is_reported_as_freezing_height_and_width():
    shape = ExportShape(1, 64, 64, dynamic_hw=True)
    pre = run_preflight("table", export_program(CountTriggeredTable().eval(), shape), shape, "onnxruntime")
    (frozen,) = pre.frozen_ops
    assert frozen.op_type == "Add" and frozen.axes == ("height", "width") and "to 16" in frozen.detail
    assert pre.blocking == []  # reported; the export's check at other sizes is what fails such a file


def test_ops_onnx_runtime_has_no_kernel_for():
    node = onnx.helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")
    graph = onnx.helper.make_graph([node, onnx.helper.make_node("Relu", ["y"], ["z"])], "g",
                                   [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                                   [onnx.helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [1])])
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18),
                                                         onnx.helper.make_opsetid("com.example", 1)])
    assert onnxruntime_unsupported(ir.from_proto(proto)) == ("com.example::Frobnicate (opset 1)",)


@pytest.mark.skipif(not openvino_available(), reason="openvino is an optional extra")
def test_openvino_runs_the_small_net(static_program):
    pre = run_preflight("convnet", static_program, ExportShape(1, 32, 48), "openvino")
    assert pre.unsupported_ops == () and pre.engine_note == ""
