"""Read official checkpoint files safely, unwrap them, and load them strictly with a key report."""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from segdeploy.errors import SegdeployError

if TYPE_CHECKING:  # segdeploy.models loads checkpoints through this module
    from segdeploy.models.spec import ModelSpec

# Containers the official files use: mmseg {'state_dict', 'meta'}, Segmenter {'model', 'optimizer', ...},
# SegmenTron epoch files {'state_dict', 'optimizer', 'epoch'}; bare state dicts otherwise.
_WRAPPER_KEYS = ("state_dict", "model")
_INTEGER_BUFFER = ".num_batches_tracked"  # BatchNorm's step counter, an int64 scalar


@dataclass(frozen=True)
class KeyReport:
    """How a checkpoint's tensors differ from what a model expects."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mis_shaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # key, want, got

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mis_shaped)

    def summary(self) -> str:
        return (f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                f"{len(self.mis_shaped)} mis-shaped keys")


def read_state_dict(path: str | Path, trust: bool = False) -> dict[str, torch.Tensor]:
    """Load a checkpoint file and return its bare state dict (unwrapped, `module.` prefixes removed)."""
    path = Path(path)
    if not path.is_file():
        raise SegdeployError.at(path, "checkpoint file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not trust:
            raise SegdeployError.at(
                path, "needs full unpickling, which can run arbitrary code; pass --trust-checkpoint "
                f"if you trust its source ({str(err).splitlines()[0][:120]})") from err
        obj = _load_trusted(path)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise SegdeployError.at(path, f"not a readable PyTorch checkpoint ({_first_line(err)})") from err
    return _unwrap(obj, path)


def _load_trusted(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a trusted pickle may fail in any way its classes choose
        raise SegdeployError.at(path, f"not a readable PyTorch checkpoint ({_first_line(err)})") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:160]


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    while isinstance(obj, dict):
        wrapped = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if wrapped is None:
            break
        obj = wrapped
    if not isinstance(obj, dict) or not obj:
        raise SegdeployError.at(path, "holds no state dict (expected a dict of tensors, or one under "
                                "'state_dict' or 'model')")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != len(obj):
        others = sorted(k for k in obj if k not in tensors)[:3]
        raise SegdeployError.at(path, f"state dict has non-tensor entries, e.g. {others}")
    if all(k.startswith("module.") for k in tensors):  # saved from a DataParallel/DDP wrapper
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    _check_dtypes(tensors, path)
    return tensors


def _check_dtypes(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Weights are floating point; the only integer tensors official files hold are BatchNorm's
    `num_batches_tracked` counters (see the manifests). Anything else (bool, int, complex) is not a
    set of trained weights: `load_state_dict` would cast it silently into garbage."""
    wrong = [(k, v.dtype) for k, v in tensors.items() if not _is_weight(k, v)]
    if wrong:
        key, dtype = wrong[0]
        raise SegdeployError.at(path, f"{len(wrong)} tensor(s) are not floating point, e.g. {key} is "
                                      f"{str(dtype).removeprefix('torch.')}: not a weights file")


def _is_weight(key: str, tensor: torch.Tensor) -> bool:
    if tensor.is_floating_point():
        return True
    integer = not tensor.is_complex() and tensor.dtype != torch.bool
    return integer and key.endswith(_INTEGER_BUFFER)


def compare_keys(expected: dict[str, tuple[int, ...]], found: dict[str, torch.Tensor]) -> KeyReport:
    """Missing, unexpected and mis-shaped keys of `found` against `expected` key -> shape."""
    return KeyReport(
        missing=[k for k in expected if k not in found],
        unexpected=[k for k in found if k not in expected],
        mis_shaped=[(k, tuple(expected[k]), tuple(found[k].shape))
                    for k in expected if k in found and tuple(found[k].shape) != tuple(expected[k])],
    )


def manifest_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """The official key -> shape list shipped with segdeploy for this model, in order."""
    text = resources.files("segdeploy.models").joinpath("manifests", spec.manifest).read_text()
    return {key: tuple(shape) for key, shape in json.loads(text)["state_dict"]}


def drop_ignored(state: dict[str, torch.Tensor], spec: ModelSpec) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k not in spec.ignored_checkpoint_keys}


def load_checkpoint(model: nn.Module, spec: ModelSpec, path: str | Path, trust: bool = False) -> KeyReport:
    """Load an official file into `model` strictly; on any mismatch print the key table and fail."""
    state = drop_ignored(read_state_dict(path, trust), spec)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    report = compare_keys(expected, state)
    if not report.ok:
        print_key_report(report, title=f"{path} vs {spec.name}")
        raise SegdeployError.at(path, f"does not match model {spec.name}: {report.summary()} (table above)")
    model.load_state_dict(state, strict=True)
    return report


def print_key_report(report: KeyReport, title: str, limit: int = 40) -> None:
    """One table of every missing / unexpected / mis-shaped key (to stderr), at most `limit` rows each."""
    table = Table(title=f"{title}: {report.summary()}")
    for column in ("problem", "key", "model expects", "checkpoint has"):
        table.add_column(column)
    rows = ([("missing", k, "", "-") for k in report.missing[:limit]]
            + [("unexpected", k, "-", "") for k in report.unexpected[:limit]]
            + [("mis-shaped", k, str(list(w)), str(list(g))) for k, w, g in report.mis_shaped[:limit]])
    for row in rows:
        table.add_row(*row)
    Console(stderr=True).print(table)
