"""ONNX translations segdeploy gives the dynamo exporter in place of torch's own decompositions.

Adaptive average pooling (the pyramid pooling of Fast-SCNN and ICNet): torch decomposes
`aten._adaptive_avg_pool2d` while converting to ONNX, after torch.export has traced the graph,
and the decomposition branches on the traced size (`H % bins == 0` -> one AveragePool whose
kernel is that size's; otherwise gathers built for that size). With a dynamic height and width
the branch is taken silently at the traced size, and the file is wrong at every other size
(measured: max |Δ| 0.58 on a pyramid-pooling block at 4x4 after tracing at 2x4). The translation
below computes each bin's edges from the runtime shape instead, so one graph is exact at every size.
Eager PyTorch is untouched: the models keep calling `F.adaptive_avg_pool2d`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from onnxscript import opset18 as op


def _ints(*values: int):
    return op.Constant(value_ints=list(values))


def _bin_edges(length, bins: int, i: int):
    """PyTorch's bin i of `bins` over `length`: [floor(i * L / n), ceil((i + 1) * L / n)), from the runtime L."""
    start = op.Div(op.Mul(length, _ints(i)), _ints(bins))
    end = op.Div(op.Add(op.Mul(length, _ints(i + 1)), _ints(bins - 1)), _ints(bins))
    return start, end


def adaptive_avg_pool2d(x, output_size: Sequence[int]):
    """(N, C, H, W) -> (N, C, nh, nw): one Slice + ReduceMean per bin, edges from Shape(x)."""
    bins_h, bins_w = output_size
    height = op.Shape(x, start=2, end=3)  # int64 [1]; integer Div floors these non-negative sizes
    width = op.Shape(x, start=3, end=4)
    rows = []
    for i in range(bins_h):
        h0, h1 = _bin_edges(height, bins_h, i)
        band = op.Slice(x, h0, h1, _ints(2))  # (N, C, h1 - h0, W)
        cells = []
        for j in range(bins_w):
            w0, w1 = _bin_edges(width, bins_w, j)
            cells.append(op.ReduceMean(op.Slice(band, w0, w1, _ints(3)), _ints(2, 3), keepdims=1))  # (N, C, 1, 1)
        rows.append(op.Concat(*cells, axis=3))  # (N, C, 1, nw)
    return op.Concat(*rows, axis=2)  # (N, C, nh, nw)


# aten op -> ONNX translation, passed to every `torch.onnx.export` segdeploy makes.
TRANSLATIONS = {torch.ops.aten._adaptive_avg_pool2d.default: adaptive_avg_pool2d}
