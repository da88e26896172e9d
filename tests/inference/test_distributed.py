"""`infer --evaluate` under torchrun (gloo): the bytes and metrics of one process, after a kill -9 and a
resume with another world size too; a failing rank stops the others with its error."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import segdeploy
from segdeploy.cli import main
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.distributed import DistInfo
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.inference.distributed import check_visible, chunked, deal
from segdeploy.inference.identity import dataset_inputs, infer_fingerprint
from segdeploy.inference.inputs import items_from_dataset
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.models import MODELS
from segdeploy.runtime.torch_backend import TorchBackend

MODEL = "fastscnn_cityscapes"
# The demo checkpoint: trained on synthetic scenes, so the metrics are real ones (not one class everywhere).
CHECKPOINT = Path(segdeploy.__file__).parent / "assets" / "fastscnn_synthetic.pth"
IMAGES = 24  # 12 chunks of 2: enough that a kill after the first files leaves most of the run to do


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_chunks_are_dealt_once_each_whatever_the_world_size(world):
    finished = [0, 3, 4, 9]
    shards = [deal(11, finished, DistInfo(rank=r, world_size=world)) for r in range(world)]
    todo = sorted(k for s in shards for k in s.todo)
    done = sorted(k for s in shards for k in s.done)
    assert todo == [k for k in range(11) if k not in finished] and done == finished
    # the unfinished work is split evenly: no rank waits long for the others at the end
    assert max(len(s.todo) for s in shards) - min(len(s.todo) for s in shards) <= 1
    assert chunked(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_run_folder_other_nodes_cannot_see_is_refused(tmp_path):
    with pytest.raises(SegdeployError, match="storage every node shares"):
        check_visible(tmp_path / "only-on-node-0", DistInfo(rank=1, world_size=2))


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scenes")
    generate_cityscapes_like(root, "val", IMAGES, size=(128, 256), seed=5)
    return root


@pytest.mark.parametrize("outfmt", ["bin", "png"])
def test_a_resumed_run_scores_finished_images_from_their_files_exactly(scenes, tmp_path, outfmt):
    spec = MODELS[MODEL]
    torch.manual_seed(0)
    backend = TorchBackend(spec.build(**spec.tiny))
    items = items_from_dataset(spec, scenes, "val")[:3]
    fingerprint = infer_fingerprint(spec.name, "torch", "cpu", CHECKPOINT, None, "whole", outfmt, False, 2,
                                    dataset_inputs(scenes, "val"), items)  # (the tiny net stands in for it)
    scored, rescored = ConfusionMatrix(spec.num_classes), ConfusionMatrix(spec.num_classes)
    run_inference(spec, backend, items, InferConfig(tmp_path, batch=2, outfmt=outfmt, run_name="r"), fingerprint,
                  show_progress=False, confusion=scored)
    resumed = run_inference(spec, backend, items, InferConfig(tmp_path, batch=2, outfmt=outfmt, resume=tmp_path / "r"),
                            fingerprint, show_progress=False, confusion=rescored)
    assert (resumed.written, resumed.skipped_done) == (0, 3)
    assert scored.matrix.sum() > 0 and np.array_equal(scored.matrix, rescored.matrix)


def _infer(data: Path, output: Path, *extra: str) -> list[str]:
    return ["--threads", "1", "infer", "--model", MODEL, "--checkpoint", str(CHECKPOINT), "--data-root", str(data),
            "--output", str(output), "--batch", "2", "--evaluate", *extra]


def _standalone(processes: int) -> list[str]:
    return ["--standalone", "--nproc-per-node", str(processes)]


def _finish(proc: subprocess.Popen) -> str:
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out[-3000:]
    return out


def _run_dir(output: Path) -> Path:
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return run_dir


def _files(run_dir: Path) -> dict[str, bytes]:
    """Every prediction and metrics.json (hidden names are the temporary files of a killed writer)."""
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def one_process(scenes, tmp_path_factory) -> dict[str, bytes]:
    threads = torch.get_num_threads()
    output = tmp_path_factory.mktemp("one")
    try:
        assert main(_infer(scenes, output)) == 0
    finally:
        torch.set_num_threads(threads)  # --threads 1 set it for this whole test process
    files = _files(_run_dir(output))
    assert len(files) == IMAGES + 1 and json.loads(files["metrics.json"])["mIoU"] > 0.3
    return files


def test_two_processes_write_the_bytes_and_metrics_of_one(scenes, one_process, tmp_path, torchrun):
    out = _finish(torchrun(_standalone(2), _infer(scenes, tmp_path)))
    run_dir = _run_dir(tmp_path)
    assert _files(run_dir) == one_process
    summary = json.loads((tmp_path / f"{run_dir.name}_summary.json").read_text())
    assert [r["written"] for r in summary["ranks"]] == [IMAGES // 2] * 2 and len(summary["filesinfo"]) == IMAGES
    assert "2 processes" in out and f"{IMAGES} images scored" in out


def _kill_job(pid: int) -> None:
    """kill -9 torchrun and every process it started (its workers run in sessions of their own)."""
    tree, pending = [], [pid]
    while pending:
        parent = pending.pop()
        tree.append(parent)
        for task in Path(f"/proc/{parent}/task").iterdir():
            pending += [int(child) for child in (task / "children").read_text().split()]
    for process in tree:
        os.kill(process, signal.SIGKILL)


def _wait_for_predictions(output: Path, proc: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 240
    while len(list(output.glob("*/*_0.bin"))) < count:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "no prediction file appeared"
        time.sleep(0.005)


def test_killed_run_resumes_with_another_world_size_to_the_same_bytes_and_metrics(scenes, one_process, tmp_path,
                                                                                   torchrun):
    proc = torchrun(_standalone(2), _infer(scenes, tmp_path))
    # Each rank writes its chunks of 2 in order: of 4 files, one rank has written 2, a whole chunk.
    _wait_for_predictions(tmp_path, proc, count=4)
    _kill_job(proc.pid)
    proc.communicate(timeout=60)
    run_dir = _run_dir(tmp_path)
    before = [p for p in run_dir.glob("*_0.bin")]
    assert 0 < len(before) < IMAGES and not (run_dir / "metrics.json").exists()

    _finish(torchrun(_standalone(3), _infer(scenes, tmp_path, "--resume", str(run_dir))))
    assert _files(run_dir) == one_process  # every prediction, and metrics over all images, as one process
    summary = json.loads((tmp_path / f"{run_dir.name}_summary.json").read_text())
    assert len(summary["ranks"]) == 3 and 0 < summary["images_already_done"] <= len(before)
    assert summary["images_already_done"] + summary["images_written"] == IMAGES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failing_rank_on_another_node_stops_the_others_with_its_error(tmp_path, torchrun):
    data = tmp_path / "data"
    generate_cityscapes_like(data, "val", 8, size=(64, 128), seed=6)
    broken = sorted((data / "leftImg8bit" / "val").rglob("*.png"))[2]  # chunk 1 of batch 2: rank 1's first
    broken.write_bytes(broken.read_bytes()[:200])
    master = ["--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
    nodes = [torchrun(["--nnodes", "2", "--node-rank", rank, "--nproc-per-node", "1", *master],
                       _infer(data, tmp_path / "out")) for rank in ("0", "1")]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert all(node.returncode != 0 for node in nodes)
    errors = [[line for line in out.splitlines() if line.startswith("segdeploy: error:")] for out in outputs]
    assert len(errors[1]) == 1 and f"rank 1 of 2: {broken}" in errors[1][0] and "cannot decode" in errors[1][0]
    # rank 0 stopped with rank 1's error: after its current batch, or where it waited for rank 1
    assert len(errors[0]) == 1 and errors[0][0].startswith("segdeploy: error: rank 0 of 2: ")
    assert f"rank 1: {broken}" in errors[0][0]


@pytest.mark.parametrize("flag, value, expected", [
    ("--dist-timeout", "0", "must be a finite number greater than 0"),
    ("--dist-timeout", "-5", "must be a finite number greater than 0"),
    ("--trt-calibration", "{missing}", "no such file"),
    ("--trt-calibration", "{folder}", "is a folder, expected a file"),
])
def test_hostile_distributed_and_tensorrt_flags_are_refused_at_parse_time(tmp_path, capsys, flag, value, expected):
    value = value.format(missing=tmp_path / "nope.flatbuffers", folder=tmp_path)
    code = main(["infer", "--model", MODEL, "--data-root", str(tmp_path), "--output", str(tmp_path / "p"), flag, value])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and flag in err and expected in err
