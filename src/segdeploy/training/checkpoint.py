"""What a training run writes and reads: exported weights, resumable checkpoints, backbone init.

Two kinds of file, never mixed up:
- `latest.pth`: a bare state dict with the official keys, which `infer`/`export` load unchanged;
- `checkpoints/iter_NNNNNN.pth`: everything a bit-identical resume needs (model, optimizer, LR
  schedule, AMP scaler, iteration, every rank's RNG states), readable with `weights_only=True`.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segdeploy.checkpoints import compare_keys, print_key_report, read_state_dict
from segdeploy.errors import SegdeployError
from segdeploy.reporting.atomic import write_bytes_atomic

CHECKPOINT_DIR = "checkpoints"
# The ImageNet classifier of a backbone pretraining file: segmentation never uses it.
_CLASSIFIER_PREFIX = "fc."


def save_state_dict(model: nn.Module, path: Path) -> Path:
    """A bare state dict (the official files' layout), written atomically."""
    return _save({k: v.detach().clone().cpu() for k, v in model.state_dict().items()}, path)


def _save(obj: object, path: Path) -> Path:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def checkpoint_path(work_dir: Path, iteration: int) -> Path:
    return work_dir / CHECKPOINT_DIR / f"iter_{iteration:06d}.pth"


def save_training_checkpoint(state: dict[str, Any], work_dir: Path, keep: int) -> Path:
    """Write `state` atomically (rank 0 only) and delete all but the newest `keep` checkpoints."""
    path = _save(state, checkpoint_path(work_dir, state["iteration"]))
    for old in sorted((work_dir / CHECKPOINT_DIR).glob("iter_*.pth"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def check_fresh_work_dir(work_dir: Path) -> None:
    """A new run must not mix its checkpoints with an earlier run's (rotation and --resume go by name)."""
    folder = work_dir / CHECKPOINT_DIR
    if any(folder.glob("iter_*.pth")):
        raise SegdeployError.at(folder, "holds checkpoints of an earlier run: pass --resume to continue it, "
                                        "or choose a new --work-dir")


def latest_training_checkpoint(work_dir: Path) -> Path:
    """The newest resumable checkpoint of a run, or a one-line error naming where it looked."""
    found = sorted((work_dir / CHECKPOINT_DIR).glob("iter_*.pth"))
    if not found:
        raise SegdeployError.at(work_dir / CHECKPOINT_DIR, "no iter_*.pth checkpoint to resume from")
    return found[-1]


def load_training_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails in many ways on a damaged file
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise SegdeployError.at(path, f"not a readable training checkpoint ({reason})") from err


def capture_rng() -> dict[str, Any]:
    """This process's torch, CUDA, numpy and Python RNG states, in types `weights_only` loading accepts."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
        "numpy_pos": int(numpy_state["state"]["pos"]),
        "numpy_gauss": (int(numpy_state["has_gauss"]), float(numpy_state["gauss"])),
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    key = state["numpy_key"].numpy().astype(np.uint32)
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": key, "pos": state["numpy_pos"]},
                         "has_gauss": state["numpy_gauss"][0], "gauss": state["numpy_gauss"][1]})
    random.setstate(state["python"])


def init_backbone(model: nn.Module, path: Path, model_name: str, trust: bool = False) -> int:
    """Load an ImageNet-pretrained backbone file in mmseg's layout (e.g. `open-mmlab://resnet50_v1c`:
    `stem.*`, `layer1.*`... with no `backbone.` prefix) into `model.backbone`, strictly.

    The classifier `fc.*` is dropped; any other difference is printed as checkpoints' key table.
    Returns the number of tensors loaded.
    """
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise SegdeployError.at("--init-backbone", f"{model_name} has no `backbone` submodule to initialise")
    state = {k: v for k, v in read_state_dict(path, trust).items() if not k.startswith(_CLASSIFIER_PREFIX)}
    expected = {k: tuple(v.shape) for k, v in backbone.state_dict().items()}
    report = compare_keys(expected, state)
    # Pretraining files from before PyTorch 0.4.1 have no BN step counters; BatchNorm fills them in.
    missing = [k for k in report.missing if not k.endswith("num_batches_tracked")]
    if missing or report.unexpected or report.mis_shaped:
        print_key_report(report, title=f"{path} vs backbone of {model_name}")
        raise SegdeployError.at(path, f"does not match the backbone of {model_name}: {report.summary()} "
                                      "(table above)")
    backbone.load_state_dict(state, strict=True)
    return len(state)
