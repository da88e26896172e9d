"""Inference runner: ais_bench layout, padding of fixed-batch engines, byte-identical resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segdeploy.inference.inputs import InputItem, Prepared
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.models import MODELS
from segdeploy.runtime.backend import run_batch
from segdeploy.runtime.torch_backend import TorchBackend

SPEC = MODELS["fastscnn_cityscapes"]


def _items(n: int, fail_at: int | None = None) -> list[InputItem]:
    def reader(i: int):
        def read() -> np.ndarray:
            if i == fail_at:
                raise KeyboardInterrupt  # what Ctrl-C does in the middle of a run
            return np.random.default_rng(i).standard_normal((3, 64, 128), dtype=np.float32)
        return read
    return [InputItem(f"img{i:02d}", None, read=reader(i), prepare=lambda chw: Prepared([chw], None))
            for i in range(n)]


@pytest.fixture(scope="module")
def backend():
    torch.manual_seed(0)
    return TorchBackend(SPEC.build())


def _read_all(run_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


def test_outputs_in_ais_bench_layout_with_summary(backend, tmp_path):
    result = run_inference(SPEC, backend, _items(3), InferConfig(tmp_path, batch=2, run_name="r"),
                           show_progress=False)
    files = _read_all(result.run_dir)
    assert sorted(files) == ["img00_0.bin", "img01_0.bin", "img02_0.bin"]
    class_map = np.frombuffer(files["img01_0.bin"], dtype=np.int32)
    assert class_map.size == 64 * 128 and class_map.max() < 19
    summary = json.loads((tmp_path / "r_summary.json").read_text())
    assert summary["filesinfo"]["2"]["outfiles"][0].endswith("img02_0.bin")


def test_interrupted_run_resumes_to_identical_bytes(backend, tmp_path):
    full = run_inference(SPEC, backend, _items(7), InferConfig(tmp_path / "a", batch=3, run_name="r"),
                         show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_inference(SPEC, backend, _items(7, fail_at=4), InferConfig(tmp_path / "b", batch=3, run_name="r"),
                      show_progress=False)
    run_b = tmp_path / "b" / "r"
    assert sorted(p.name for p in run_b.iterdir()) == ["img00_0.bin", "img01_0.bin", "img02_0.bin"]
    resumed = run_inference(SPEC, backend, _items(7), InferConfig(tmp_path / "b", batch=3, resume=run_b),
                            show_progress=False)
    assert resumed.skipped_done == 3 and resumed.written == 4
    assert _read_all(run_b) == _read_all(full.run_dir)


class _FixedBatchEngine:
    """Records the batch sizes it is called with; output = input's first channel, as 1 class."""

    name, fixed_hw = "fixed", None

    def __init__(self, fixed: int) -> None:
        self.fixed_batch, self.calls = fixed, []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(len(batch))
        return batch[:, :1] * 2


def test_fixed_batch_engine_gets_padded_batches_and_padding_is_dropped():
    engine = _FixedBatchEngine(4)
    x = np.arange(6 * 3 * 2 * 2, dtype=np.float32).reshape(6, 3, 2, 2)
    out = run_batch(engine, x)
    assert engine.calls == [4, 4]
    np.testing.assert_array_equal(out, x[:, :1] * 2)
