"""`segdeploy data voc-aug`: SBD's `cls/*.mat` masks as PNGs, and the VOC `trainaug` / `aug` split lists.

Same semantics as mmseg's `tools/convert_datasets/voc_aug.py` (spec: datasets_metrics.md §2):
every `cls/<id>.mat` (GTcls.Segmentation, uint8 0..20, no 255 border) becomes a grayscale
`SegmentationClassAug/<id>.png`; `trainaug` = (VOC train ∪ SBD train ∪ SBD val) − VOC val and
`aug` = (SBD train ∪ SBD val) − (VOC train ∪ VOC val). Unlike mmseg the lists are sorted (its
set order changes between runs) and their sizes are reported rather than asserted (10,582 and
9,118 on the full data sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from segdeploy.data.images import save_label_png
from segdeploy.data.parallel import run_in_processes
from segdeploy.data.textfile import read_text_file
from segdeploy.data.voc import AUG_LABEL_FOLDER
from segdeploy.errors import SegdeployError
from segdeploy.reporting.atomic import write_text_atomic

_NUM_CLASSES = 21


@dataclass(frozen=True)
class VocAugResult:
    out_dir: Path
    converted: int
    already_done: int
    trainaug: Path
    trainaug_ids: int
    aug: Path
    aug_ids: int


def convert_voc_aug(voc: str | Path, sbd: str | Path, out: str | Path | None = None, workers: int = 4,
                    show_progress: bool = True) -> VocAugResult:
    """Convert SBD into `out` (default `<voc>/SegmentationClassAug`, where the VOC reader looks) and
    write `<voc>/ImageSets/Segmentation/{trainaug,aug}.txt`. Already converted masks are kept."""
    voc, sbd = Path(voc), Path(sbd)
    out = Path(out) if out is not None else voc / AUG_LABEL_FOLDER
    lists = voc / "ImageSets" / "Segmentation"
    voc_train, voc_val = _read_ids(lists / "train.txt"), _read_ids(lists / "val.txt")
    sbd_ids = _read_ids(sbd / "train.txt") | _read_ids(sbd / "val.txt")
    mats = sorted((sbd / "cls").glob("*.mat"))
    if not mats:
        raise SegdeployError.at(sbd / "cls", "no SBD *.mat masks found (expected benchmark_RELEASE/dataset/cls/)")
    without_mask = sorted(sbd_ids - {m.stem for m in mats})
    if without_mask:
        raise SegdeployError.at(sbd / "cls" / f"{without_mask[0]}.mat",
                                f"missing, but listed in SBD train/val ({len(without_mask)} such ids)")
    jobs = [(mat, out / f"{mat.stem}.png") for mat in mats if not (out / f"{mat.stem}.png").exists()]
    run_in_processes(_convert_one, jobs, workers, "voc-aug", show_progress=show_progress)
    trainaug = sorted((voc_train | sbd_ids) - voc_val)
    aug = sorted(sbd_ids - voc_train - voc_val)
    for name, ids in (("trainaug.txt", trainaug), ("aug.txt", aug)):
        write_text_atomic(lists / name, "".join(f"{i}\n" for i in ids))
    return VocAugResult(out, len(jobs), len(mats) - len(jobs), lists / "trainaug.txt", len(trainaug),
                        lists / "aug.txt", len(aug))


def _read_ids(path: Path) -> set[str]:
    if not path.is_file():
        raise SegdeployError.at(path, "no such split file")
    return {line.strip() for line in read_text_file(path).splitlines() if line.strip()}


def read_sbd_mask(path: Path) -> np.ndarray:
    """`GTcls.Segmentation` of an SBD `cls/<id>.mat` as (H, W) uint8 class indices 0..20."""
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
        mask = np.asarray(mat["GTcls"].Segmentation)
    except Exception as err:  # scipy's MAT parser fails on cut or foreign files with many exception types
        raise SegdeployError.at(path, f"not an SBD GTcls file ({type(err).__name__}: {err})") from None
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise SegdeployError.at(path, f"GTcls.Segmentation must be a 2-D integer map, got {mask.dtype} {mask.shape}")
    if mask.size and (int(mask.min()) < 0 or int(mask.max()) >= _NUM_CLASSES):
        raise SegdeployError.at(path, f"class values {int(mask.min())}..{int(mask.max())} are outside 0..20")
    return mask.astype(np.uint8)


def _convert_one(job: tuple[Path, Path]) -> None:
    mat, png = job
    save_label_png(png, read_sbd_mask(mat))  # mode 'L', as mmseg's converter writes them
