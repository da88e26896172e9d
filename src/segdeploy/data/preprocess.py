"""`segdeploy preprocess`: dataset images -> one float32 NCHW `.bin` per image plus an `.info` file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.progress import progress_bar


@dataclass(frozen=True)
class PreprocessResult:
    out_dir: Path
    info_path: Path
    written: int
    already_done: int


def preprocess_dataset(spec: ModelSpec, data_root: Path, split: str, out_dir: Path, info_path: Path | None = None,
                       show_progress: bool = True) -> PreprocessResult:
    """Normalise every image per `spec` into `<out_dir>/<stem>.bin`, as the guides' scripts and ais_bench expect.

    Files already present are kept (writes are atomic, so a present file is complete): an
    interrupted run resumes. The `.info` lines are `index path width height` of each `.bin`.
    """
    from segdeploy.data.binio import InfoEntry, write_info, write_input_bin
    from segdeploy.data.datasets import list_samples
    from segdeploy.data.images import read_rgb
    from segdeploy.data.transforms import normalize

    samples = list_samples(spec.dataset, data_root, split, require_labels=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries, written = [], 0
    with progress_bar("preprocess", len(samples), enabled=show_progress) as advance:
        for index, sample in enumerate(samples):
            path = out_dir / f"{sample.stem}.bin"
            if path.exists():
                height, width = _bin_hw(path, sample.image_path)
            else:
                tensor = normalize(read_rgb(sample.image_path), spec.preprocess)  # (3, H, W)
                write_input_bin(path, tensor)
                height, width = tensor.shape[1:]
                written += 1
            entries.append(InfoEntry(index, str(path), width, height))
            advance(1)
    info_path = info_path or out_dir.with_suffix(".info")
    write_info(info_path, entries)
    return PreprocessResult(out_dir, info_path, written, len(samples) - written)


def _bin_hw(path: Path, image_path: Path) -> tuple[int, int]:
    """Size of an already written `.bin`: that of its source image (whole-image preprocessing)."""
    from PIL import Image

    with Image.open(image_path) as img:
        width, height = img.size
    return height, width
