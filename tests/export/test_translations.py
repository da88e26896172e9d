"""Adaptive average pooling in a dynamic-H/W file: exact at every size, not just the traced one."""

from __future__ import annotations

import numpy as np
import onnxruntime
import torch

from segdeploy.export.onnx_export import ExportShape, export_program, save_program
from segdeploy.models.fastscnn import PyramidPooling


def test_pyramid_pooling_matches_eager_at_sizes_it_was_not_traced_at(tmp_path):
    """torch's own decomposition fixes one AveragePool kernel at the traced 4x8 (bins 1, 2 divide it, 3 and 6
    do not) and is wrong elsewhere; the translation computes each bin from the runtime size."""
    torch.manual_seed(0)
    block = PyramidPooling(8, (1, 2, 3, 6), 4).eval()
    for module in block.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    program = export_program(block, ExportShape(1, 4, 8, dynamic_hw=True, channels=8))
    assert not {n.op_type for n in program.model.graph} & {"AveragePool", "GatherND"}
    # a plain session: segdeploy's engines take 3-channel images, this block 8 channels
    session = onnxruntime.InferenceSession(str(save_program(program, tmp_path / "ppm.onnx")))
    assert [isinstance(d, str) for d in session.get_inputs()[0].shape] == [False, False, True, True]
    rng = np.random.default_rng(0)
    for hw in [(4, 8), (4, 4), (5, 7), (6, 6), (13, 3), (1, 1), (32, 64)]:
        x = rng.standard_normal((1, 8, *hw), dtype=np.float32)
        with torch.inference_mode():
            expected = block(torch.from_numpy(x)).numpy()
        (got,) = session.run(None, {"input": x})
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6, err_msg=f"at {hw}")
