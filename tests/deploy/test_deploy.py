"""`segdeploy deploy` on synthetic Cityscapes scenes: a complete folder, the pick, resume, refusals, bad flags.

The labels are the shipped checkpoint's own PyTorch predictions, so PyTorch fp32 scores 100% and
every pixel an engine changes is a measured loss: with a --max-drop just above fp32 noise, the int8
candidates fail the gate for sure and must stay in the report, marked, while never being picked.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from segdeploy.cli import main
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import read_rgb, save_label_png
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.transforms import normalize
from segdeploy.demo import demo_checkpoint
from segdeploy.deploy import search
from segdeploy.deploy.accuracy import EngineScore
from segdeploy.deploy.artifact import copy_artifact, infer_engine
from segdeploy.deploy.candidates import thread_settings
from segdeploy.deploy.run import DeployConfig, run_deploy
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.models import build_model, get_spec
from segdeploy.reporting.colour import blend
from segdeploy.reporting.fingerprint import file_sha256
from segdeploy.runtime.machine import physical_cores
from segdeploy.runtime.openvino_backend import openvino_available

SPEC = get_spec("fastscnn_cityscapes")
HW = (64, 128)
ENGINES = ("torch", "onnxruntime", "onnxruntime-int8")
MAX_DROP = 0.05  # points: far above fp32 export noise, far below what int8 loses on these labels


def _config(data: Path, out: Path, **changes) -> DeployConfig:
    settings = dict(model=SPEC.name, checkpoint=demo_checkpoint(), data_root=data, out=out, images=3,
                    max_drop=MAX_DROP, engines=ENGINES, batches=(1, 2), time_budget_min=5.0, calib_images=2,
                    seconds_per_candidate=0.2, show_progress=False)
    return DeployConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """4 scenes (3 scored, 1 for calibration) labelled with PyTorch fp32's own class maps."""
    root = tmp_path_factory.mktemp("deploy_data")
    generate_cityscapes_like(root, "val", 4, size=HW, seed=3)
    model = build_model(SPEC, demo_checkpoint())
    for sample in list_samples("cityscapes", root, "val"):
        x = torch.from_numpy(normalize(read_rgb(sample.image_path), SPEC.preprocess))[None]
        with torch.inference_mode():
            save_label_png(sample.label_path, model(x).argmax(1)[0].numpy())
    return root


@pytest.fixture(scope="module")
def deployed(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("deployed") / "out"
    log: list[str] = []
    result = run_deploy(_config(data, out), log=log.append)
    return out, result, log


def test_deploy_writes_a_complete_folder(deployed):
    out, result, _ = deployed
    names = {p.name for p in out.iterdir()}
    assert {"deployment.json", "report.json", "report.md", "report.html", "plots", "search", "work"} <= names
    assert {p.stem for p in (out / "plots").glob("*.png")} == {"throughput", "latency", "accuracy_vs_speed",
                                                               "per_class_iou", "confusion", "samples"}
    deployment = json.loads((out / "deployment.json").read_text())
    artifact = out / deployment["artifact"]["file"]
    assert artifact.is_file() and deployment["artifact"]["sha256"] == file_sha256(artifact)
    assert deployment["checkpoint"]["sha256"] == file_sha256(demo_checkpoint())
    assert deployment["engine"] in ("torch", "onnxruntime") and deployment["batch"] in (1, 2)
    env = deployment["environment"]
    assert env["cpu"] and env["usable_cores"] >= 1 and env["libraries"]["onnxruntime"] and "flags" in env
    assert deployment["accuracy"]["images"] == 3 and deployment["speed"]["images_per_s"] > 0
    assert deployment["date"] and deployment["infer_command"].startswith("segdeploy infer ")
    report = json.loads((out / "report.json").read_text())
    assert report["export"]["real_images"]["argmax_agreement"] >= 0.999
    assert len(report["candidates"]) == len(ENGINES) * 2 * len(thread_settings(physical_cores()))
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# segdeploy deploy: fastscnn_cityscapes") and "![Accuracy vs speed]" in markdown


def test_the_chosen_candidate_is_the_fastest_passing_one_in_its_own_json(deployed):
    out, result, _ = deployed
    report = json.loads((out / "report.json").read_text())
    passing = [c for c in report["candidates"] if c["passed"] and c["status"] == "timed"]
    fastest = max(passing, key=lambda c: c["timing"]["samples_per_s"])
    assert report["chosen"] == fastest["id"] == result.chosen.candidate.id
    assert [c["id"] for c in report["candidates"] if c["chosen"]] == [fastest["id"]]
    deployment = json.loads((out / "deployment.json").read_text())
    assert deployment["speed"]["images_per_s"] == fastest["timing"]["samples_per_s"]
    assert report["tradeoff"].startswith("highest throughput: " + fastest["id"])


def test_int8_fails_the_gate_and_stays_in_the_report_marked(deployed):
    out, _, _ = deployed
    report = json.loads((out / "report.json").read_text())
    int8 = report["engines"]["onnxruntime-int8"]
    assert int8["pixel_agreement"] < 0.999, "int8 matched fp32 everywhere: the failing case was not constructed"
    assert report["engines"]["torch"]["mIoU"] == 1.0 and int8["d_mIoU"] < -MAX_DROP and not int8["passed"]
    rows = [c for c in report["candidates"] if c["engine"] == "onnxruntime-int8"]
    assert rows and all(c["verdict"] == "failed accuracy" and c["timing"]["samples_per_s"] > 0 for c in rows)
    assert "failed accuracy" in (out / "report.md").read_text()


def test_the_infer_line_runs_the_artifact_and_reproduces_its_accuracy(deployed, data, tmp_path):
    out, result, _ = deployed
    words = shlex.split(json.loads((out / "deployment.json").read_text())["infer_command"])
    words[words.index("--output") + 1] = str(tmp_path / "preds")
    assert words[:2] == ["segdeploy", "infer"] and main(words[1:]) == 0
    (run_dir,) = [p for p in (tmp_path / "preds").iterdir() if p.is_dir()]
    assert main(["evaluate", "--model", SPEC.name, "--pred", str(run_dir), "--data-root", str(data)]) == 0
    scored = json.loads((run_dir / "metrics.json").read_text())  # all 4 images; the deploy scored 3
    assert scored["mIoU"] == pytest.approx(1.0, abs=1e-3)
    assert result.search.scores[result.chosen.candidate.engine].metrics.mIoU == pytest.approx(1.0, abs=1e-3)


def test_resume_reuses_finished_steps_and_redoes_missing_ones(deployed, data, tmp_path):
    out, _, _ = deployed
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    candidates = sorted((copy / "search" / "candidates").glob("*.json"))
    removed, kept = candidates[:2], candidates[2:]
    for path in removed:
        path.unlink()
    (copy / "search" / "accuracy" / "onnxruntime-int8.json").unlink()
    stamps = {p: p.stat().st_mtime_ns for p in kept}
    log: list[str] = []
    result = run_deploy(_config(data, copy, resume=True), log=log.append)
    assert any(line.startswith("export reused") for line in log)
    assert "torch: accuracy pass reused" in " ".join(log) and any(line.startswith("onnxruntime-int8: mIoU") for line in log)
    assert all(p.is_file() for p in removed) and {p: p.stat().st_mtime_ns for p in kept} == stamps
    assert len(result.search.results) == len(candidates)


def test_an_interrupted_search_continues_where_it_stopped(deployed, data, tmp_path, monkeypatch):
    out, _, _ = deployed
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "search" / "candidates")
    timed = search.time_candidate
    calls = []

    def interrupted(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(args[1].id)
        return timed(*args, **kwargs)

    monkeypatch.setattr(search, "time_candidate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_deploy(_config(data, copy, resume=True), log=lambda _: None)
    finished = sorted(p.stem for p in (copy / "search" / "candidates").glob("*.json"))
    assert finished == sorted(calls) and len(finished) == 3
    monkeypatch.setattr(search, "time_candidate", timed)
    redone: list[str] = []
    monkeypatch.setattr(search, "time_candidate", lambda *a, **k: redone.append(a[1].id) or timed(*a, **k))
    result = run_deploy(_config(data, copy, resume=True), log=lambda _: None)
    assert not set(redone) & set(calls) and len(redone) + len(calls) == len(result.search.results)


def _deploy_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["deploy", "--model", SPEC.name, "--checkpoint", str(demo_checkpoint()), "--data-root", str(data),
            "--images", "3", "--max-drop", str(MAX_DROP), "--engines", ",".join(ENGINES), "--batch", "1,2",
            "--calib-images", "2", "--out", str(out), *extra]


def _error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("segdeploy: error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_resume_refuses_changed_settings_and_a_rerun_needs_resume(deployed, data, tmp_path, capsys):
    out, _, _ = deployed
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    stamp = (copy / "search" / "fingerprint.json").stat().st_mtime_ns
    line = _error(capsys, _deploy_argv(data, copy, "--resume", "--images", "2"))
    assert "was made with other settings" in line and "images: 3 -> 2" in line
    line = _error(capsys, _deploy_argv(data, copy, "--resume", "--max-drop", "1"))
    assert "(max_drop: 0.05 -> 1.0)" in line
    line = _error(capsys, _deploy_argv(data, copy))
    assert "holds an earlier deploy: add --resume" in line
    assert (copy / "search" / "fingerprint.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("flag, value, expected", [
    ("--images", "0", "must be at least 1"), ("--images", "-3", "must be at least 1"),
    ("--images", "many", "expected an integer"),
    ("--time-budget", "0", "greater than 0"), ("--time-budget", "-1", "greater than 0"),
    ("--time-budget", "nan", "finite"), ("--time-budget", "inf", "finite"),
    ("--max-drop", "-0.1", "at least 0"), ("--batch", "0", "positive integers"), ("--batch", "1,-2", "positive"),
    ("--calib-images", "0", "must be at least 1"),
    ("--engines", "tensorrt", "unknown engine"), ("--engines", "", "unknown engine"),
])
def test_bad_flag_values_are_refused_before_any_work(data, tmp_path, capsys, flag, value, expected):
    line = _error(capsys, _deploy_argv(data, tmp_path / "out", flag, value))
    assert flag in line and expected in line
    assert not (tmp_path / "out").exists()


def test_bad_paths_are_one_line_errors(data, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    assert "is a file, expected a folder" in _error(capsys, _deploy_argv(data, a_file))
    assert "no such folder" in _error(capsys, _deploy_argv(tmp_path / "missing", tmp_path / "o"))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("a user's file")
    assert "is not empty and holds no segdeploy deploy" in _error(capsys, _deploy_argv(data, busy))
    assert (busy / "mine.txt").read_text() == "a user's file"
    argv = _deploy_argv(data, tmp_path / "o1")
    argv[argv.index("--checkpoint") + 1] = str(tmp_path)
    assert "is a folder, expected a file" in _error(capsys, argv)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    argv[argv.index("--checkpoint") + 1] = str(other)
    assert "other.pth: does not match model fastscnn_cityscapes" in _error(capsys, argv)
    assert not (tmp_path / "o1").exists()  # refused before the folder was made a deploy's
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(data, unlabelled)
    shutil.rmtree(unlabelled / "gtFine")
    assert "no labelled val images" in _error(capsys, _deploy_argv(unlabelled, tmp_path / "o2"))


def test_show_dir_blends_the_palette_over_each_image(deployed, data, tmp_path, capsys):
    out, _, _ = deployed
    argv = ["infer", "--model", SPEC.name, "--onnx", str(out / "work" / next(
        p.name for p in (out / "work").glob("*_fp32.onnx"))), "--data-root", str(data), "--output",
            str(tmp_path / "p"), "--outfmt", "npy", "--show-dir", str(tmp_path / "show"), "--opacity", "0.3"]
    assert main(argv) == 0 and "4 overlays (opacity 0.3)" in " ".join(capsys.readouterr().out.split())
    (run_dir,) = [p for p in (tmp_path / "p").iterdir() if p.is_dir()]
    for sample in list_samples("cityscapes", data, "val"):
        image = read_rgb(sample.image_path)
        pred = np.load(run_dir / f"{sample.stem}_0.npy")
        palette = np.asarray(SPEC.palette, dtype=np.float64)
        expected = (image * 0.7 + palette[pred] * 0.3).astype(np.uint8)
        np.testing.assert_array_equal(read_rgb(tmp_path / "show" / f"{sample.stem}.png"), expected)
        np.testing.assert_array_equal(expected, blend(image, pred, SPEC.palette, 0.3))
    base = argv[:argv.index("--show-dir")]
    for bad, message in ((["--show-dir", str(tmp_path / "s"), "--opacity", "1.5"], "between 0 and 1"),
                         (["--show-dir", str(tmp_path / "s"), "--opacity", "-0.1"], "between 0 and 1"),
                         (["--opacity", "0.4"], "--opacity: only applies to --show-dir"),
                         (["--show-dir", str(out / "report.md")], "is a file, expected a folder")):
        assert message in _error(capsys, base + bad)
    bins = ["infer", "--model", SPEC.name, "--checkpoint", str(demo_checkpoint()), "--input", str(tmp_path),
            "--output", str(tmp_path / "q"), "--show-dir", str(tmp_path / "s")]
    assert "--show-dir: needs --data-root" in _error(capsys, bins)


def test_infer_runs_the_openvino_engine_or_says_it_is_missing(deployed, data, tmp_path, capsys):
    out, _, _ = deployed
    onnx = next((out / "work").glob("*_fp32.onnx"))
    argv = ["infer", "--model", SPEC.name, "--engine", "openvino", "--data-root", str(data), "--output",
            str(tmp_path / "p")]
    assert "--engine openvino: needs --onnx FILE" in _error(capsys, argv)
    assert "--device: the openvino engine runs on the CPU" in _error(capsys, [*argv, "--onnx", str(onnx),
                                                                            "--device", "cuda"])
    if not openvino_available():
        assert "not installed" in _error(capsys, [*argv, "--onnx", str(onnx)])
        return
    assert main([*argv, "--onnx", str(onnx), "--evaluate"]) == 0
    assert "openvino: 4 images predicted" in " ".join(capsys.readouterr().out.split())


def test_accuracy_aware_int8_is_made_when_plain_int8_fails_tuned_off_the_scored_images(deployed, data, tmp_path):
    out, _, _ = deployed
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    log: list[str] = []
    result = run_deploy(_config(data, copy, resume=True, engines=(*ENGINES, "onnxruntime-int8-aware")),
                        log=log.append)
    said = " ".join(log)
    assert "accuracy-aware int8 (minmax, Δ mIoU budget 0.05 on 1 images)" in said  # the one unscored image
    score = result.search.scores["onnxruntime-int8-aware"]
    (report,) = (copy / "work").glob("*_int8aware_*.fallback.json")
    steps = json.loads(report.read_text())["steps"]
    assert len(steps) >= 2 and steps[-1]["float_nodes"] > 0, "the fallback kept no node in float"
    rows = [r for r in result.search.results if r.candidate.engine == "onnxruntime-int8-aware"]
    plain = result.search.scores["onnxruntime-int8"]
    assert rows and all(r.timed for r in rows) and score.pixel_agreement > plain.pixel_agreement
    assert all(r.passed == (r.d_miou >= -MAX_DROP) for r in rows)


def test_accuracy_aware_int8_is_not_made_when_plain_int8_is_within_the_budget():
    confusion = ConfusionMatrix(2)
    confusion.update(np.array([0, 1, 1]), np.array([0, 1, 1]))
    worse = ConfusionMatrix(2)
    worse.update(np.array([0, 1, 0]), np.array([0, 1, 1]))
    ctx = SimpleNamespace(max_drop=0.5)
    scores = {"torch": EngineScore("torch", confusion, 1, 1.0, 0.1),
              "onnxruntime-int8": EngineScore("onnxruntime-int8", confusion, 1, 0.99, 0.1)}
    skipped = search._int8_aware_not_needed(ctx, scores)
    assert skipped.status == "not needed" and skipped.verdict.startswith("not needed: onnxruntime-int8 is within")
    assert search._int8_aware_not_needed(ctx, {**scores, "onnxruntime-int8": EngineScore(
        "onnxruntime-int8", worse, 1, 0.6, 0.1)}) is None
    assert search._int8_aware_not_needed(ctx, {"torch": scores["torch"]}) is None  # plain int8 not searched


def test_an_openvino_ir_is_copied_with_its_weights_and_replaces_a_stale_artifact(tmp_path):
    work, folder = tmp_path / "work", tmp_path / "deploy"
    work.mkdir()
    folder.mkdir()
    (work / "net_ov-int8.xml").write_text("<net/>")
    (work / "net_ov-int8.bin").write_bytes(b"\x01\x02")
    (folder / "model.onnx").write_bytes(b"old")
    (folder / "notes.txt").write_text("the user's")
    target = copy_artifact(work / "net_ov-int8.xml", folder)
    assert target == folder / "model.xml" and target.read_text() == "<net/>"
    assert (folder / "model.bin").read_bytes() == b"\x01\x02" and not (folder / "model.onnx").exists()
    assert (folder / "notes.txt").read_text() == "the user's"
    assert [infer_engine(e) for e in ("openvino-int8-throughput", "openvino-bf16-throughput", "openvino-throughput",
                                      "onnxruntime-int8", "torch-bf16")] == \
        ["openvino-int8", "openvino-bf16", "openvino", "onnxruntime-int8", "torch-bf16"]
