"""Inference runner: ais_bench layout, padding of fixed-batch engines, byte-identical resume."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from segdeploy.errors import SegdeployError
from segdeploy.inference.identity import InferFingerprint
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


# The settings of these runs; the weights are torch.manual_seed(0)'s, named as a checkpoint hash would be.
FINGERPRINT = InferFingerprint(model=SPEC.name, engine="torch", precision="fp32", device="cpu", weights="seed 0",
                               onnx=None, variant=None, outfmt="bin", output="class map", batch=3,
                               inputs="seven random 64x128 images", input_files="img00..img06")


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
                         FINGERPRINT, show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_inference(SPEC, backend, _items(7, fail_at=4), InferConfig(tmp_path / "b", batch=3, run_name="r"),
                      FINGERPRINT, show_progress=False)
    run_b = tmp_path / "b" / "r"
    assert sorted(p.name for p in run_b.iterdir()) == ["img00_0.bin", "img01_0.bin", "img02_0.bin"]
    resumed = run_inference(SPEC, backend, _items(7), InferConfig(tmp_path / "b", batch=3, resume=run_b),
                            FINGERPRINT, show_progress=False)
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


def _changed(value):
    return value + 1 if isinstance(value, int) else f"{value}-other"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(InferFingerprint)])
def test_resume_refuses_each_fingerprint_field(backend, tmp_path, field):
    run = run_inference(SPEC, backend, _items(3), InferConfig(tmp_path, batch=3, run_name="r"), FINGERPRINT,
                        show_progress=False).run_dir
    before = _read_all(run)
    other = dataclasses.replace(FINGERPRINT, **{field: _changed(getattr(FINGERPRINT, field))})
    with pytest.raises(SegdeployError, match=rf"was made with other settings \({field}: "):
        run_inference(SPEC, backend, _items(3), InferConfig(tmp_path, batch=3, resume=run), other,
                      show_progress=False)
    assert _read_all(run) == before


def test_two_concurrent_runs_in_one_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt, *args: "2026_12_04-10_00_00")
    start = threading.Barrier(2)
    engine = _ClassEngine()
    results = []

    def one_run() -> None:
        start.wait()  # both mkdir within the same instant
        results.append(run_inference(SPEC, engine, _items(4), InferConfig(tmp_path, batch=2), FINGERPRINT,
                                     show_progress=False))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    folders = {result.run_dir for result in results}
    assert len(folders) == 2
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == [f"img{i:02d}_0.bin" for i in range(4)]
        summary = json.loads(folder.with_name(f"{folder.name}_summary.json").read_text())
        assert summary["images_written"] == 4


def test_inputs_with_one_output_name_are_refused_before_anything_is_written(tmp_path):
    items = _items(2)
    items = [dataclasses.replace(items[0], stem="x", source=Path("bins/x.a.bin")),
             dataclasses.replace(items[1], stem="x", source=Path("bins/x.b.bin"))]
    with pytest.raises(SegdeployError, match=r"x\.b\.bin: has the same output name x_0\.\* as bins/x\.a\.bin"):
        run_inference(SPEC, _ClassEngine(), items, InferConfig(tmp_path), FINGERPRINT, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_outputs_of_another_model_stop_before_a_file_is_written(tmp_path):
    with pytest.raises(SegdeployError, match=r"returned outputs of shape \(2, 1, 64, 128\), expected \(2, 19, 64, 128\)"):
        run_inference(SPEC, _FixedBatchEngine(2), _items(2), InferConfig(tmp_path, batch=2, run_name="r"),
                      FINGERPRINT, show_progress=False)
    assert list((tmp_path / "r").iterdir()) == []


class _ClassEngine:
    """19-class logits from the input's first channel: cheap, deterministic, any batch."""

    name, fixed_batch, fixed_hw = "classes", None, None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.repeat(batch[:, :1], 19, axis=1) * np.arange(19, dtype=np.float32)[None, :, None, None]
