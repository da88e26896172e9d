"""What a deploy folder's results were made from, so a resumed run reuses them only when nothing changed.

The shape of every segdeploy run fingerprint (`segdeploy.reporting.fingerprint`): a small frozen
dataclass with a KIND, saved as JSON, compared field by field with refusals naming each difference.
A deploy keeps its record inside its own folder (OUT/search/fingerprint.json, and with every stored
step), since OUT holds nothing but what deploy writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from segdeploy.errors import SegdeployError
from segdeploy.reporting import fingerprint as run_record


@dataclass(frozen=True)
class DeployFingerprint:
    """Every setting that changes a candidate's accuracy or speed (not which candidates are tried:
    --engines, --batch and --time-budget may change between a run and its resume)."""

    KIND: ClassVar[str] = "deploy"

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
        return run_record.to_json(self)


def check_same(saved: dict[str, Any], current: DeployFingerprint, where: Path) -> None:
    """Raise naming every differing setting when `saved` was made with other settings than `current`."""
    wanted = current.to_json()
    differing = run_record.check(saved, wanted)
    if differing:
        raise SegdeployError.at(where, f"was made with other settings "
                                       f"({run_record.describe_differences(saved, wanted, differing)}); rerun with "
                                       "the earlier settings, or use a new --out folder")


def files_sha256(paths: Iterable[Path]) -> str:
    """One digest over the names and contents of `paths`, in order."""
    return run_record.listing_sha256((Path(p).name, run_record.file_sha256(p)) for p in paths)
