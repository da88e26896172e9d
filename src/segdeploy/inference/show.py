"""`infer --show-dir`: each prediction's palette colours blended over its image, as mmseg's test tool draws them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segdeploy.data.binio import read_prediction
from segdeploy.data.images import read_label, read_rgb, save_image_png
from segdeploy.inference.inputs import InputItem
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.colour import blend
from segdeploy.reporting.progress import progress_bar

DEFAULT_OPACITY = 0.5  # mmseg's `--opacity` default


def write_overlays(spec: ModelSpec, items: list[InputItem], run_dir: Path, outputs: dict[str, str], show_dir: Path,
                   opacity: float = DEFAULT_OPACITY, show_progress: bool = True) -> int:
    """`show_dir/<stem>.png` for every item with a prediction in `run_dir` (`outputs`: stem -> file name,
    as `infer` records them); returns how many were written. Items must be dataset images."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    done = [item for item in items if item.stem in outputs and item.source is not None]
    with progress_bar("overlays", len(done), enabled=show_progress) as advance:
        for item in done:
            image = read_rgb(item.source)
            class_map = _class_map(run_dir / outputs[item.stem], image.shape[:2], spec.num_classes)
            save_image_png(show_dir / f"{item.stem}.png", Image.fromarray(blend(image, class_map, spec.palette, opacity)))
            advance(1)
    return len(done)


def _class_map(path: Path, hw: tuple[int, int], num_classes: int) -> np.ndarray:
    """A class map `infer` wrote from a dataset image: at the image's size, in any of its formats."""
    return read_label(path) if path.suffix == ".png" else read_prediction(path, hw, num_classes)
