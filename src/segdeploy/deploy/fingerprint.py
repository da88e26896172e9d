"""What a deploy folder's results were made from, so a resumed run reuses them only when nothing changed.

A small frozen dataclass that round-trips through JSON, and a comparison that names each field
that differs. NOTE: `infer` gets its own run fingerprint in parallel work; both follow this shape
(dataclass -> dict -> JSON, compare field by field) so that they can become one module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from segdeploy.errors import SegdeployError


@dataclass(frozen=True)
class DeployFingerprint:
    """Every setting that changes a candidate's accuracy or speed (not which candidates are tried:
    --engines, --batch and --time-budget may change between a run and its resume)."""

    model: str
    tiny: bool
    variant: str
    checkpoint_sha256: str
    data_sha256: str  # the scored images and labels, in order
    split: str
    images: int
    max_drop: float
    calib_images: int
    segdeploy: str
    libraries: tuple[tuple[str, str | None], ...]  # (package, version) of the engines' libraries
    cpu: str
    cores: int

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))  # tuples become lists, as they are stored

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DeployFingerprint:
        names = {f.name for f in fields(cls)}
        if not isinstance(obj, dict) or set(obj) != names:
            raise ValueError("not a deploy fingerprint")
        return cls(**{**obj, "libraries": tuple(tuple(pair) for pair in obj["libraries"])})


def changed_fields(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`name: old -> new` for every field whose JSON value differs (missing fields included)."""
    return [f"{name}: {saved.get(name, '(absent)')} -> {current.get(name, '(absent)')}"
            for name in dict.fromkeys([*saved, *current]) if saved.get(name) != current.get(name)]


def check_same(saved: dict[str, Any], current: DeployFingerprint, where: Path) -> None:
    """Raise naming every differing setting when `saved` was made with other settings than `current`."""
    changes = changed_fields(saved, current.to_json())
    if changes:
        raise SegdeployError.at(where, "was made with other settings (" + "; ".join(changes) + "); rerun with "
                                       "the earlier settings, or use a new --out folder")


def sha256_of_files(paths: Iterable[Path]) -> str:
    """One digest over the names and bytes of `paths`, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0")
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
