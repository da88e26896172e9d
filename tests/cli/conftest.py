"""A small world every CLI hostile-input test starts from (data, weights, ONNX files, bins, an earlier
run), and the fixtures those tests share: `cli`, `snapshot`, `small_fs` (a full or read-only tmpfs).

The ONNX files are one 1x1 convolution built with onnx.helper (milliseconds, no exporter): a
19-channel one is a valid deployed "model" for any Cityscapes model, the others break one rule
each (class count, inputs, rank, channels, argmax inside): `World.conv_onnx`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from segdeploy.cli import main
from segdeploy.data.preprocess import preprocess_dataset
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.models import MODELS
from segdeploy.training.train import save_state_dict

MODEL = "fastscnn_cityscapes"
HW = (64, 128)


def conv_onnx(path: Path, classes: int = 19, in_channels: int = 3, inputs: tuple[str, ...] = ("input",),
              rank: int = 4, argmax: bool = False, seed: int = 0) -> Path:
    """A 1x1 convolution as an ONNX file; dims N, H, W are symbolic."""
    spatial = ["H", "W"][: rank - 2]
    weight = np.random.default_rng(seed).standard_normal((classes, in_channels, *[1] * len(spatial)))
    nodes = [helper.make_node("Conv", ["x", "w"], ["logits"])]
    if len(inputs) == 2:  # x = input_a + input_b
        nodes.insert(0, helper.make_node("Add", list(inputs), ["x"]))
    else:
        nodes.insert(0, helper.make_node("Identity", [inputs[0]], ["x"]))
    out_shape: list = ["N", classes, *spatial]
    out_type = TensorProto.FLOAT
    if argmax:
        nodes.append(helper.make_node("ArgMax", ["logits"], ["output"], axis=1, keepdims=0))
        out_shape, out_type = ["N", *spatial], TensorProto.INT64
    else:
        nodes.append(helper.make_node("Identity", ["logits"], ["output"]))
    graph = helper.make_graph(
        nodes, "conv",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", in_channels, *spatial]) for name in inputs],
        [helper.make_tensor_value_info("output", out_type, out_shape)],
        [numpy_helper.from_array(weight.astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every onnxruntime of the last years reads
    onnx.save(model, str(path))
    return path


@dataclass(frozen=True)
class World:
    model = MODEL
    conv_onnx = staticmethod(conv_onnx)

    root: Path
    data: Path  # Cityscapes layout, 2 val images of 64x128
    ckpt: Path  # fastscnn_cityscapes weights (official layout)
    ckpt2: Path  # other weights of the same model
    onnx: Path  # a 19-class "model"
    onnx2: Path  # another 19-class one
    bins: Path  # `preprocess` of `data` (bins.info beside it)
    run: Path  # an earlier `infer --onnx onnx --data-root data` run folder

    def placeholders(self, tmp: Path) -> dict[str, str]:
        return {"data": str(self.data), "ckpt": str(self.ckpt), "ckpt2": str(self.ckpt2), "onnx": str(self.onnx),
                "onnx2": str(self.onnx2), "bins": str(self.bins), "run": str(self.run), "preds": str(self.run.parent),
                "tmp": str(tmp), "model": MODEL}


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(capsys):
    """`cli(*argv) -> (exit code, stdout, stderr)` of one in-process `segdeploy` command."""
    return lambda *argv: _cli(capsys, *argv)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    data = root / "data"
    generate_cityscapes_like(data, "val", 2, size=HW, seed=3)
    spec = MODELS[MODEL]
    torch.manual_seed(0)
    ckpt = save_state_dict(spec.build(), root / "fastscnn.pth")
    torch.manual_seed(1)
    ckpt2 = save_state_dict(spec.build(), root / "fastscnn_other.pth")
    bins = root / "bins"
    preprocess_dataset(spec, data, "val", bins, show_progress=False)
    onnx_path, onnx2 = conv_onnx(root / "conv19.onnx"), conv_onnx(root / "conv19_other.onnx", seed=1)
    assert main(["infer", "--model", MODEL, "--onnx", str(onnx_path), "--data-root", str(data),
                 "--output", str(root / "preds")]) == 0
    (run,) = [p for p in (root / "preds").iterdir() if p.is_dir()]
    return World(root, data, ckpt, ckpt2, onnx_path, onnx2, bins, run)


def _snapshot(*folders: Path) -> dict[str, bytes]:
    files = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[str(path)] = path.read_bytes()
    return files


@pytest.fixture
def snapshot():
    """`snapshot(*folders) -> {path: bytes}` of every file below them: what "nothing earlier changed" compares."""
    return _snapshot


@pytest.fixture
def small_fs(tmp_path):
    """`small_fs(kind)` mounts a 256 KiB tmpfs at tmp_path/fs and returns a function making it `full`
    (written until ENOSPC) or `read-only` (remounted ro: root ignores permission bits, not EROFS).
    Root only (and not in every container): skipped otherwise. Unmounted afterwards."""
    where = tmp_path / "fs"
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                                           capture_output=True).returncode != 0:
        pytest.skip("a small file system needs root with mount permission")

    def make(kind: str) -> None:
        if kind == "full":
            _fill(where)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)

    yield make
    subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> None:
    """Write until the file system is full, then once more byte by byte, leaving nothing free."""
    for name, chunk in (("filler", 1 << 16), ("filler2", 1)):
        with contextlib.suppress(OSError), open(folder / name, "wb") as f:
            while True:
                f.write(b"\0" * chunk)
                f.flush()
