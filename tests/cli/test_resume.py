"""`infer --resume` refuses a run made with other settings, one fingerprint field at a time, and
continues one made with the same; two runs started in the same second never share a folder."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ONNX_RUN = ["--onnx", "{onnx}", "--data-root", "{data}"]
TORCH_RUN = ["--checkpoint", "{ckpt}", "--data-root", "{data}"]
BINS_RUN = ["--onnx", "{onnx}", "--input", "{bins}"]


def _changed_image(tmp: Path) -> None:
    image = sorted((tmp / "data").rglob("*_leftImg8bit.png"))[0]
    pixels = np.asarray(Image.open(image)).copy()
    pixels[0, 0] ^= 255  # same size in pixels, other bytes
    Image.fromarray(pixels).save(image)


# (field, the first run's arguments, the resumed run's, what to do to the inputs in between)
MISMATCHES = [
    ("model", ONNX_RUN, ONNX_RUN + ["--model", "icnet_r50_cityscapes"], None),
    ("engine", ONNX_RUN, TORCH_RUN, None),
    ("weights", TORCH_RUN, ["--checkpoint", "{ckpt2}", "--data-root", "{data}"], None),
    ("onnx", ONNX_RUN, ["--onnx", "{onnx2}", "--data-root", "{data}"], None),
    ("outfmt", ONNX_RUN, ONNX_RUN + ["--outfmt", "npy"], None),
    ("output", BINS_RUN, BINS_RUN + ["--logits"], None),
    ("batch", ONNX_RUN, ONNX_RUN + ["--batch", "2"], None),
    ("inputs", ONNX_RUN, ["--onnx", "{onnx}", "--data-root", "{tmp}/data"], None),
    ("inputs", BINS_RUN, BINS_RUN + ["--input-size", "64x128"], None),
    ("input_files", ["--onnx", "{onnx}", "--data-root", "{tmp}/data"], ["--onnx", "{onnx}", "--data-root",
                                                                         "{tmp}/data"], _changed_image),
]


def _infer(world, tmp: Path, args: list[str], output: Path, *extra: str) -> list[str]:
    values = world.placeholders(tmp)
    return ["infer", "--model", world.model, *[a.format(**values) for a in args], "--output", str(output), *extra]


@pytest.mark.parametrize("field,first,second,change", MISMATCHES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MISMATCHES)])
def test_resume_refuses_a_run_made_with_another_setting(world, tmp_path, cli, snapshot, field, first, second,
                                                        change):
    shutil.copytree(world.data, tmp_path / "data")
    assert cli(*_infer(world, tmp_path, first, tmp_path / "p"))[0] == 0
    (run,) = [p for p in (tmp_path / "p").iterdir() if p.is_dir()]
    if change is not None:
        change(tmp_path)
    before = snapshot(tmp_path / "p")
    code, _, err = cli(*_infer(world, tmp_path, second, tmp_path / "p", "--resume", str(run)))
    lines = [line for line in err.splitlines() if line.startswith("segdeploy: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert f"{run}: was made with other settings (" in lines[0] and f" {field}: " in f" {lines[0].split('(', 1)[1]}"
    assert snapshot(tmp_path / "p") == before  # nothing written, nothing mixed in


def test_resume_with_the_same_settings_continues_to_the_same_files(world, tmp_path, cli, snapshot):
    straight = tmp_path / "straight"
    assert cli(*_infer(world, tmp_path, TORCH_RUN, straight, "--batch", "2"))[0] == 0
    (full,) = [p for p in straight.iterdir() if p.is_dir()]
    shutil.copytree(full, tmp_path / "p" / "r")
    shutil.copy(full.with_name(full.name + ".segdeploy.json"), tmp_path / "p" / "r.segdeploy.json")
    (tmp_path / "p" / "r" / sorted(p.name for p in full.iterdir())[0]).unlink()  # as if interrupted
    code, out, _ = cli(*_infer(world, tmp_path, TORCH_RUN, tmp_path / "p", "--batch", "2", "--resume",
                               str(tmp_path / "p" / "r")))
    assert code == 0 and "2 images predicted, 0 already done" in " ".join(out.split())  # whole batches only
    assert snapshot(tmp_path / "p" / "r").values() and list(snapshot(tmp_path / "p" / "r").values()) == \
        list(snapshot(full).values())


def test_random_weights_cannot_be_resumed(world, tmp_path, cli):
    args = ["--data-root", "{data}"]
    assert cli(*_infer(world, tmp_path, args, tmp_path / "p"))[0] == 0
    (run,) = [p for p in (tmp_path / "p").iterdir() if p.is_dir()]
    code, _, err = cli(*_infer(world, tmp_path, args, tmp_path / "p", "--resume", str(run)))
    assert code == 2 and "random weights" in err and err.count("segdeploy: error:") == 1


def test_two_runs_in_the_same_second_get_two_folders(world, tmp_path, cli, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "2026_12_04-10_00_00")
    for _ in range(2):
        assert cli(*_infer(world, tmp_path, ONNX_RUN, tmp_path / "p"))[0] == 0
    runs = sorted(p for p in (tmp_path / "p").iterdir() if p.is_dir())
    assert len(runs) == 2 and all(p.name.startswith("2026_12_04-10_00_00-") for p in runs)
    for run in runs:
        assert len(list(run.iterdir())) == 2
        assert run.with_name(f"{run.name}_summary.json").is_file() and run.with_name(f"{run.name}.segdeploy.json").is_file()
