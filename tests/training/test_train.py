"""The trainer on tiny FCN variants and tiny VOC trees: learning, DDP equivalence, exact resume, export."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from segdeploy.checkpoints import load_checkpoint, manifest_shapes
from segdeploy.models import MODELS
from segdeploy.training import train as train_module

MODEL = "fcn_r50_d8_voc"
WORKER = Path(__file__).with_name("tiny_train.py")
_spec = importlib.util.spec_from_file_location("tiny_train", WORKER)
tiny_train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_train)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: faster on a shared machine, and the same arithmetic in every run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _args(root: Path, work_dir: Path, **recipe) -> dict:
    # Small crops of 32x64 images without mmseg's (2048, 512) rescale; the rest is FCN's recipe.
    base = {"iters": 8, "batch_per_device": 4, "crop": [24, 48], "scale": None, "ratio_range": [0.75, 1.5],
            "eval_every": 0, "checkpoint_every": 1000, "train_split": "train", "val_split": "val"}
    return {"model": MODEL, "data_root": str(root), "work_dir": str(work_dir), "recipe": base | recipe,
            "config": {"workers": 0, "log_every": 2}}


def _records(work_dir: Path, mode: str = "train") -> list[dict]:
    lines = (work_dir / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["mode"] == mode]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_loss_decreases_and_export_loads_unchanged(voc_tree, tmp_path):
    args = _args(voc_tree, tmp_path, iters=30, lr=0.05)
    args["config"]["log_every"] = 5
    latest = tiny_train.run(args)
    losses = [r["loss"] for r in _records(tmp_path)]
    assert losses[-1] < 0.8 * losses[0], losses
    # latest.pth is a bare state dict with the official key names (the tiny variant has fewer blocks),
    # which `infer`/`export` load strictly.
    spec = MODELS[MODEL]
    assert set(_weights(latest)) <= set(manifest_shapes(spec))
    load_checkpoint(spec.build(**spec.tiny), spec, latest)


def test_interrupted_run_resumes_bit_identical(voc_tree, tmp_path, monkeypatch, capsys):
    """Dropout, BN in train mode, random crop/flip/photometric, a loader worker: all must replay exactly."""
    uninterrupted_args = _args(voc_tree, tmp_path / "a", iters=9, checkpoint_every=3)
    uninterrupted_args["config"]["workers"] = 1
    uninterrupted = tiny_train.run(uninterrupted_args)

    real_step = train_module._train_step

    def crash_in_iteration_8(run, images, labels):
        if run.iteration == 7:
            raise KeyboardInterrupt  # as if the job were killed; the last checkpoint is iteration 6
        return real_step(run, images, labels)

    monkeypatch.setattr(train_module, "_train_step", crash_in_iteration_8)
    args = _args(voc_tree, tmp_path / "b", iters=9, checkpoint_every=3)
    args["config"]["workers"] = 1
    with pytest.raises(KeyboardInterrupt):
        tiny_train.run(args)
    monkeypatch.setattr(train_module, "_train_step", real_step)
    capsys.readouterr()
    resumed = tiny_train.run(args | {"config": args["config"] | {"resume": True}})
    assert "iter_000006.pth at iteration 6" in capsys.readouterr().out

    a, b = _weights(uninterrupted), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in r.items() if k not in ("time", "data_time", "eta", "memory")}
             for r in _records(tmp_path / "a") + _records(tmp_path / "b")]
    assert strip[: len(strip) // 2] == strip[len(strip) // 2:]  # the same losses, logged once each
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == [
        "iter_000003.pth", "iter_000006.pth", "iter_000009.pth"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(launch: list[str], args: dict) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",  # loopback only
                        "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "torch.distributed.run", *launch, str(WORKER), json.dumps(args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _launch(kind: str, args: dict) -> None:
    if kind == "one node, 2 processes":
        # --standalone lets torchrun pick its own free port: no window between choosing one and binding it
        procs = [_torchrun(["--standalone", "--nproc-per-node", "2"], args)]
    else:  # two torchrun invocations, as on two machines, over loopback
        master = ["--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
        procs = [_torchrun(["--nnodes", "2", "--node-rank", rank, "--nproc-per-node", "1", *master], args)
                 for rank in ("0", "1")]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outputs)[-3000:]


@pytest.mark.parametrize("launch", ["one node, 2 processes", "two nodes, 1 process each"])
def test_two_processes_match_one_process_with_twice_the_batch(voc_tree_no_ignore, tmp_path, launch):
    """Per-device batch 2 on 2 gloo processes = batch 4 on one: same images per step (keyed
    augmentation, no crop so every image has the same labelled pixel count), frozen BN, no dropout."""
    common = {"iters": 8, "lr": 0.05, "crop": None, "eval_every": 8, "val_variant": "mmseg-resize"}
    single = _args(voc_tree_no_ignore, tmp_path / "one", batch_per_device=4, **common)
    double = _args(voc_tree_no_ignore, tmp_path / "two", batch_per_device=2, **common)
    for args in (single, double):
        args["config"]["freeze_bn"] = True
        args["dropout"] = False
    reference = _weights(tiny_train.run(single))
    _launch(launch, double)
    distributed = _weights(tmp_path / "two" / "latest.pth")
    for key, value in reference.items():
        torch.testing.assert_close(distributed[key], value, rtol=1e-4, atol=1e-5, msg=key)
    one, two = _records(tmp_path / "one", "val")[-1], _records(tmp_path / "two", "val")[-1]
    assert one["images"] == two["images"] == 8 and one["aAcc"] > 0.3
    assert abs(one["mIoU"] - two["mIoU"]) < 1e-3, (one, two)


def test_amp_bf16_on_cpu_runs_and_skips_non_finite_steps(voc_tree, tmp_path):
    args = _args(voc_tree, tmp_path, iters=4)
    args["config"]["amp"] = True
    tiny_train.run(args)
    assert [r["skipped_steps"] for r in _records(tmp_path)] == [0, 0]

    # An overflowed step (inf gradient after the all-reduce) is counted and leaves the weights alone.
    layer = torch.nn.Linear(2, 2)
    run = SimpleNamespace(scaler=torch.amp.GradScaler("cuda", enabled=False),
                          config=SimpleNamespace(amp=True),
                          model_without_ddp=layer, optimizer=torch.optim.SGD(layer.parameters(), lr=1.0))
    layer(torch.tensor([[float("inf"), 1.0]])).sum().backward()
    before = layer.weight.detach().clone()
    assert train_module._optimizer_step(run) is False
    assert torch.equal(layer.weight, before)
