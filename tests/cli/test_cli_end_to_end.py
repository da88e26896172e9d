"""The guides' chain from the command line on a tiny synthetic Cityscapes tree, and bad input."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from segdeploy.cli import COMMANDS, DATA_COMMANDS, main
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.models import MODELS
from segdeploy.training.train import save_state_dict

MODEL = "fastscnn_cityscapes"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    generate_cityscapes_like(root, "val", 3, size=(64, 128), seed=3)
    torch.manual_seed(0)
    checkpoint = save_state_dict(MODELS[MODEL].build(), root / "fastscnn.pth")
    return root, checkpoint


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_whole_chain(tree, tmp_path, capsys):
    root, checkpoint = tree
    onnx = tmp_path / "m.onnx"
    assert run(capsys, "preprocess", "--model", MODEL, "--data-root", str(root), "--out", str(tmp_path / "bins"))[0] == 0
    info = (tmp_path / "bins.info").read_text().splitlines()
    assert len(info) == 3 and info[0].endswith(" 128 64")
    code, out, _ = run(capsys, "export", "--model", MODEL, "--checkpoint", str(checkpoint), "--out", str(onnx),
                       "--dynamic-batch", "--input-size", "64x128")
    assert code == 0 and "onnxruntime vs PyTorch fp32 on 1 random" in " ".join(out.split()) and "passed" in out
    # torch on the dataset, ONNX Runtime on the preprocessed .bin files: same predictions, same metrics
    assert run(capsys, "infer", "--model", MODEL, "--checkpoint", str(checkpoint), "--data-root", str(root),
               "--output", str(tmp_path / "pt"), "--batch", "2")[0] == 0
    assert run(capsys, "infer", "--model", MODEL, "--onnx", str(onnx), "--input", str(tmp_path / "bins"),
               "--input-size", "64x128", "--output", str(tmp_path / "ort"), "--batch", "2")[0] == 0
    scores = {}
    for engine in ("pt", "ort"):
        (run_dir,) = [p for p in (tmp_path / engine).iterdir() if p.is_dir()]
        code, out, _ = run(capsys, "evaluate", "--model", MODEL, "--pred", str(run_dir), "--data-root", str(root))
        assert code == 0 and "mean (aAcc" in out
        scores[engine] = json.loads((run_dir / "metrics.json").read_text())
    assert abs(scores["pt"]["mIoU"] - scores["ort"]["mIoU"]) < 1e-3
    code, out, _ = run(capsys, "bench", "--model", MODEL, "--onnx", str(onnx), "--batch", "1,2", "--warmup", "1",
                       "--loop", "2", "--json", str(tmp_path / "bench.json"))
    assert code == 0
    results = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert [r["batch"] for r in results] == [1, 2] and all(r["samples_per_s"] > 0 for r in results)


def one_line_error(capsys, *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.startswith("segdeploy: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    return lines[0]


def test_unknown_model(capsys, tmp_path):
    line = one_line_error(capsys, "export", "--model", "nope", "--out", str(tmp_path / "x.onnx"))
    assert "unknown model 'nope'" in line and MODEL in line


def test_corrupt_png(tree, tmp_path, capsys):
    root, checkpoint = tree
    bad = tmp_path / "bad"
    generate_cityscapes_like(bad, "val", 2, size=(64, 128), seed=4)
    image = sorted((bad / "leftImg8bit" / "val").rglob("*.png"))[1]
    image.write_bytes(image.read_bytes()[:200])
    line = one_line_error(capsys, "infer", "--model", MODEL, "--checkpoint", str(checkpoint), "--data-root", str(bad),
                          "--output", str(tmp_path / "p"))
    assert image.name in line


def test_missing_label_file(tree, tmp_path, capsys):
    root, checkpoint = tree
    data = tmp_path / "data"
    generate_cityscapes_like(data, "val", 2, size=(64, 128), seed=5)
    assert run(capsys, "infer", "--model", MODEL, "--checkpoint", str(checkpoint), "--data-root", str(data),
               "--output", str(tmp_path / "p"), "--outfmt", "npy")[0] == 0
    for label in (data / "gtFine" / "val").rglob("*_000001_gtFine_label*Ids.png"):
        label.unlink()
    (run_dir,) = [p for p in (tmp_path / "p").iterdir() if p.is_dir()]
    line = one_line_error(capsys, "evaluate", "--model", MODEL, "--pred", str(run_dir), "--data-root", str(data))
    assert "_000001_gtFine_labelIds.png" in line and "no label" in line


def test_wrong_size_bin(tmp_path, capsys, tree):
    _, checkpoint = tree
    bins = tmp_path / "bins"
    bins.mkdir()
    np.zeros((3, 64, 100), dtype=np.float32).tofile(bins / "a.bin")
    line = one_line_error(capsys, "infer", "--model", MODEL, "--checkpoint", str(checkpoint), "--input", str(bins),
                          "--input-size", "64x128", "--output", str(tmp_path / "p"))
    assert "a.bin" in line and "76,800 bytes" in line


def test_checkpoint_of_another_model(tree, tmp_path, capsys):
    _, checkpoint = tree
    line = one_line_error(capsys, "inspect-checkpoint", str(checkpoint), "--model", "icnet_r50_cityscapes")
    assert "does not match model icnet_r50_cityscapes" in line and "missing" in line
    code, out, _ = run(capsys, "inspect-checkpoint", str(checkpoint), "--model", MODEL)
    assert code == 0 and "matches fastscnn_cityscapes" in out


def test_pickled_checkpoint_needs_trust(tmp_path, capsys):
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": {}, "meta": {"args": argparse.Namespace(lr=0.01)}}, path)  # not allow-listed
    line = one_line_error(capsys, "inspect-checkpoint", str(path), "--model", MODEL)
    assert "--trust-checkpoint" in line


COMMAND_PATHS = [[name] for name in COMMANDS] + [["data", name] for name in DATA_COMMANDS]


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_every_command_help_shows_an_example(path):
    proc = subprocess.run([sys.executable, "-m", "segdeploy", *path, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "\nexample:\n  " in proc.stdout
    example = proc.stdout.split("\nexample:\n  ", 1)[1].splitlines()[0]
    assert f"segdeploy {' '.join(path)}" in example  # `torchrun ... -m segdeploy train` counts too


@pytest.mark.parametrize("path", [[]] + COMMAND_PATHS, ids=lambda path: " ".join(path) or "segdeploy")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_of_every_command_and_the_top_level(path, flag, capsys):
    code, out, err = run(capsys, *path, flag)
    assert code == 0 and err == "" and out.startswith(f"usage: segdeploy {' '.join(path)}".rstrip())
    assert "exit codes: 0 success, 2 bad usage or bad input, 3 a gate failed" in " ".join(out.split())
    if path in (["data"], []):  # a parent lists its subcommands
        names = DATA_COMMANDS if path else COMMANDS
        assert all(name in out for name in names)


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("segdeploy ") and out.split()[1][0].isdigit()


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_flags_before_or_after_the_subcommand(where, tmp_path, capsys):
    flags, command = ["--threads", "1", "--debug"], ["data", "synthetic", "--out", str(tmp_path), "--count", "1",
                                                     "--size", "32x64"]
    code, out, _ = run(capsys, *(flags + command if where == "before" else command + flags))
    assert code == 0 and "1 images in" in out


def test_data_synthetic_writes_a_cityscapes_tree(tmp_path, capsys):
    code, out, _ = run(capsys, "data", "synthetic", "--out", str(tmp_path), "--count", "2", "--size", "32x64")
    assert code == 0 and "2 images in" in out
    assert len(list((tmp_path / "gtFine" / "val").rglob("*_gtFine_labelIds.png"))) == 2


def test_module_entry_point_reports_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "segdeploy", "evaluate", "--model", MODEL, "--pred",
                           str(tmp_path), "--data-root", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "leftImg8bit" in proc.stderr
