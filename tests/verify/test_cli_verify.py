"""`segdeploy verify` and the export preflight from the command line, and every bad input they refuse."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from segdeploy.cli import main

from .conftest import SPEC


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("segdeploy: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_verify_on_labelled_images_passes_and_writes_json(exported, cityscapes, tmp_path, capsys):
    out = tmp_path / "v.json"
    code, stdout, err = run(capsys, "verify", "--model", SPEC.name, "--checkpoint", str(exported.checkpoint),
                            "--onnx", str(exported.onnx), "--data-root", str(cityscapes), "--images", "2",
                            "--json", str(out))
    assert code == 0 and "passed" in stdout and "mIoU" in stdout and "warning" not in err, err
    saved = json.loads(out.read_text())
    assert saved["passed"] and saved["metrics"]["d_mIoU"] == 0 and len(saved["images"]) == 2
    assert saved["criteria"] == {"atol": 1e-3, "rtol": 1e-3, "min_agreement": 0.999, "max_drop": 0.1}


def test_verify_bisects_a_corrupted_file_to_the_node_reading_the_weight(exported, corrupted, tmp_path, capsys):
    onnx = shutil.copy(corrupted.onnx, tmp_path / "bad.onnx")
    code, stdout, err = run(capsys, "verify", "--model", SPEC.name, "--checkpoint", str(exported.checkpoint),
                            "--onnx", str(onnx), "--images", "1", "--input-size", "64x128")
    assert code == 3 and "verification failed: logits beyond" in error_line(err)
    assert f"first value beyond |Δ| <= 0.001 + 0.001·|PyTorch|: Conv {corrupted.node}" in " ".join(stdout.split())
    saved = json.loads((tmp_path / "bad.verify.json").read_text())  # the default: beside the file
    assert saved["bisect"]["first_failure"]["node"] == corrupted.node
    assert corrupted.weight in saved["bisect"]["first_failure"]["weights"]


def test_random_weights_are_announced_once(exported, capsys):
    code, _, err = run(capsys, "verify", "--model", SPEC.name, "--onnx", str(exported.onnx), "--images", "1",
                       "--no-bisect", "--json", os.devnull)
    assert code == 3  # random weights are not the weights in the file
    assert [line for line in err.splitlines() if "warning" in line] == [
        f"segdeploy: warning: no --checkpoint: {SPEC.name} runs with RANDOM weights; its outputs say nothing "
        "about the trained model"]


def test_a_checkpoint_of_bools_is_refused_and_one_of_nans_fails_the_export(tmp_path, capsys):
    state = SPEC.build().state_dict()
    torch.save({k: torch.zeros_like(v, dtype=torch.bool) for k, v in state.items()}, tmp_path / "bool.pth")
    code, _, err = run(capsys, "export", "--model", SPEC.name, "--checkpoint", str(tmp_path / "bool.pth"),
                       "--out", str(tmp_path / "b.onnx"), "--input-size", "64x128")
    assert code == 2 and "are not floating point, e.g. learning_to_downsample.conv.conv.weight is bool" in error_line(err)
    assert not (tmp_path / "b.onnx").exists()
    torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()},
               tmp_path / "nan.pth")
    code, stdout, err = run(capsys, "export", "--model", SPEC.name, "--checkpoint", str(tmp_path / "nan.pth"),
                            "--out", str(tmp_path / "n.onnx"), "--input-size", "64x128")
    assert code == 3 and "PyTorch itself gives" in error_line(err) and "non-finite" in error_line(err)


def test_preflight_writes_nothing_and_reports(tmp_path, capsys):
    code, stdout, _ = run(capsys, "export", "--model", SPEC.name, "--preflight", "--input-size", "64x128",
                          "--dynamic-batch")
    text = " ".join(stdout.split())
    assert code == 0 and "export preflight" in text and "static by request: height 64, width 128" in text
    assert "batch 16:" in text and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["--images", "0"], "argument --images: must be at least 1, got 0"),
    (["--atol", "-1"], "argument --atol: must be a finite number at least 0"),
    (["--rtol", "nan"], "argument --rtol: must be a finite number"),
    (["--min-agreement", "1.5"], "argument --min-agreement: must be a finite number between 0 and 1"),
    (["--batch", "0"], "argument --batch: must be at least 1"),
    (["--input-size", "0x5"], "argument --input-size: expected HEIGHTxWIDTH"),
    (["--engine", "tensorrt"], "argument --engine: invalid choice"),
    (["--bisect", "--no-bisect"], "not allowed with argument"),
    (["--data-root", "FILE"], "is a file, expected a folder"),
    (["--data-root", "DIR", "--input-size", "64x128"], "--input-size: is for random inputs"),
    (["--data-root", "DIR", "--batch", "2"], "--batch: is for random inputs"),
])
def test_verify_refuses_bad_flags(exported, tmp_path, capsys, argv, message):
    argv = [str(exported.checkpoint) if a == "FILE" else str(tmp_path) if a == "DIR" else a for a in argv]
    code, _, err = run(capsys, "verify", "--model", SPEC.name, "--onnx", str(exported.onnx), *argv)
    assert code == 2 and message in error_line(err)


@pytest.mark.parametrize("kind", ["missing", "folder", "not onnx", "json under a file"])
def test_verify_refuses_bad_files(exported, tmp_path, capsys, kind):
    """(Unwritable folders are refused by the same check, but not when the tests run as root.)"""
    text_file = tmp_path / "x.onnx"
    text_file.write_text("not a model")
    onnx = {"missing": tmp_path / "nope.onnx", "folder": tmp_path, "not onnx": text_file,
            "json under a file": exported.onnx}[kind]
    extra = ["--json", str(text_file / "v.json")] if kind == "json under a file" else []
    code, _, err = run(capsys, "verify", "--model", SPEC.name, "--checkpoint", str(exported.checkpoint),
                       "--onnx", str(onnx), *extra)
    line = error_line(err)
    assert code == 2
    assert {"missing": "no such file", "folder": "is a folder, expected a file",
            "not onnx": "ONNX Runtime cannot load it",
            "json under a file": "is a file, so nothing can be created under it"}[kind] in line


def test_export_needs_out_unless_preflight_and_a_size_the_model_takes(tmp_path, capsys):
    code, _, err = run(capsys, "export", "--model", SPEC.name)
    assert code == 2 and "--out: is required (only --preflight writes nothing)" in error_line(err)
    code, _, err = run(capsys, "export", "--model", SPEC.name, "--out", str(tmp_path / "m.onnx"),
                       "--input-size", "64x100")
    assert code == 2 and "needs height and width divisible by 32" in error_line(err)
