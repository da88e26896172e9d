"""`segdeploy data cityscapes-trainids`: write `*_gtFine_labelTrainIds.png` beside every `*_gtFine_labelIds.png`.

cityscapesscripts' `createTrainIdLabelImgs` repaints the polygon json with trainIds; mapping the
labelIds image pixel-wise through the label table gives the same image (both paint the same
polygons in the same order, and the relabelling commutes with painting), and works without the
json files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segdeploy.data.cityscapes import label_ids_to_train_ids
from segdeploy.data.images import read_label, save_label_png
from segdeploy.data.parallel import run_in_processes
from segdeploy.errors import SegdeployError

_LABEL_IDS = "_gtFine_labelIds.png"
_TRAIN_IDS = "_gtFine_labelTrainIds.png"


@dataclass(frozen=True)
class TrainIdsResult:
    converted: int
    already_done: int


def write_train_ids(root: str | Path, workers: int = 4, show_progress: bool = True) -> TrainIdsResult:
    """Convert every split under `root/gtFine`; files already converted are kept (writes are atomic)."""
    gt_root = Path(root) / "gtFine"
    if not gt_root.is_dir():
        raise SegdeployError.at(gt_root, "no such folder (expected the Cityscapes layout gtFine/<split>/<city>/)")
    sources = sorted(gt_root.glob(f"*/*/*{_LABEL_IDS}"))
    if not sources:
        raise SegdeployError.at(gt_root, f"no <split>/<city>/*{_LABEL_IDS} files found")
    jobs = [(src, _target(src)) for src in sources if not _target(src).exists()]
    run_in_processes(_convert_one, jobs, workers, "trainIds", show_progress=show_progress)
    return TrainIdsResult(len(jobs), len(sources) - len(jobs))


def _target(source: Path) -> Path:
    return source.with_name(source.name[: -len(_LABEL_IDS)] + _TRAIN_IDS)


def _convert_one(job: tuple[Path, Path]) -> None:
    source, target = job
    save_label_png(target, label_ids_to_train_ids(read_label(source), source))
