"""The bisect names the node that reads a corrupted weight, in an otherwise correct file."""

from __future__ import annotations

import numpy as np

from segdeploy.verify.bisect import bisect_onnx

from .conftest import HW


def _input(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, 3, *HW), dtype=np.float32)


def test_first_failure_is_the_node_reading_the_corrupted_weight(exported, corrupted):
    result = bisect_onnx(exported.model, corrupted.onnx, _input(), atol=1e-4, rtol=1e-4, show_progress=False,
                         program=exported.program)
    first = result.first_failure
    assert first is not None and first.node == corrupted.node and first.op_type == "Conv"
    assert corrupted.weight in first.weights
    assert first.module.startswith(("learning_to_downsample", "global_feature_extractor", "feature_fusion"))
    assert all(d.passed for d in result.compared[:first.index])  # everything upstream still matches
    assert len(result.compared) == first.index + 1 + 5  # the walk stops 5 values after it
    assert not result.compared[first.index + 1].passed  # the error propagates downstream


def test_a_correct_file_passes_every_value(exported):
    result = bisect_onnx(exported.model, exported.onnx, _input(1), atol=1e-4, rtol=1e-4, show_progress=False,
                         program=exported.program)
    assert result.first_failure is None
    assert len(result.compared) == result.comparable > 0.6 * result.values_in_file
    assert result.compared[-1].value == "output"  # the renamed graph output is matched too


def test_small_chunks_find_the_same_node(exported, corrupted):
    """Memory is bounded by the chunk: 512 KiB chunks take several ONNX Runtime runs and give the same verdict."""
    result = bisect_onnx(exported.model, corrupted.onnx, _input(), atol=1e-4, rtol=1e-4, chunk_bytes=2**19,
                         context=1, show_progress=False, program=exported.program)
    assert result.first_failure.node == corrupted.node
    assert result.engine_runs > 2
    assert len(result.compared) == result.first_failure.index + 2
