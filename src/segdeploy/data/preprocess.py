"""`segdeploy preprocess`: dataset images -> float32 NCHW `.bin` inputs, an `.info` file and a geometry index.

Per image the chosen variant makes one input (`<stem>.bin`) or one per window (`<stem>_<k>.bin`),
exactly what ais_bench is then fed. Beside the guides' `.info` (`index path width height` of each
`.bin`), `<info>.index.json` records each sample's geometry (variant, image size, resize, pad,
window positions) and any skipped image, so the run can be post-processed and audited without
the preprocessing code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segdeploy.data.binio import InfoEntry, write_info, write_input_bin
from segdeploy.data.cityscapes import Sample
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import image_size, read_rgb
from segdeploy.data.variants import Geometry, geometry_for, get_variant, input_stems, make_inputs
from segdeploy.errors import SegdeployError
from segdeploy.models.spec import ModelSpec, Variant
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.reporting.progress import progress_bar


@dataclass(frozen=True)
class PreprocessResult:
    out_dir: Path
    info_path: Path
    index_path: Path
    written: int  # images whose inputs were written by this run
    already_done: int
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "error"} per bad image


def preprocess_dataset(spec: ModelSpec, data_root: Path, split: str, out_dir: Path, info_path: Path | None = None,
                       variant: str | None = None, skip_bad: bool = False,
                       show_progress: bool = True) -> PreprocessResult:
    """Write every image's network inputs per `spec` and `variant` into `out_dir`.

    Files already present are kept (writes are atomic, so a present file is complete): an
    interrupted run resumes. With `skip_bad`, an unreadable image is recorded and left out
    instead of stopping the run.
    """
    chosen = get_variant(spec, variant)
    samples = list_samples(spec.dataset, data_root, split, require_labels=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[InfoEntry] = []
    index: dict[str, dict] = {}
    skipped: list[dict[str, str]] = []
    written = 0
    with progress_bar("preprocess", len(samples), enabled=show_progress) as advance:
        for sample in samples:
            try:
                paths, geometry, wrote = _preprocess_one(spec, chosen, sample, out_dir)
            except SegdeployError as err:
                if not skip_bad:
                    raise
                skipped.append({"file": str(sample.image_path), "error": str(err)})
            else:
                written += wrote
                for path, (h, w) in zip(paths, geometry.input_hws, strict=True):
                    entries.append(InfoEntry(len(entries), str(path), w, h))
                index[sample.stem] = {"image": str(sample.image_path), "inputs": [p.name for p in paths],
                                      **geometry.to_json()}
            advance(1)
    info_path = info_path or out_dir.with_suffix(".info")
    write_info(info_path, entries)
    index_path = info_path.with_suffix(".index.json")
    write_json_atomic(index_path, {"model": spec.name, "variant": chosen.name, "samples": index,
                                   "skipped": skipped})
    return PreprocessResult(out_dir, info_path, index_path, written, len(index) - written, skipped)


def _preprocess_one(spec: ModelSpec, variant: Variant, sample: Sample,
                    out_dir: Path) -> tuple[list[Path], Geometry, bool]:
    """Write one image's inputs unless all exist; returns their paths, the geometry and whether it wrote."""
    geometry = geometry_for(spec, variant, image_size(sample.image_path))  # header only
    paths = [out_dir / f"{stem}.bin" for stem in input_stems(sample.stem, geometry)]
    if all(p.exists() for p in paths):
        return paths, geometry, False
    inputs, geometry = make_inputs(spec, variant, read_rgb(sample.image_path))
    for path, tensor in zip(paths, inputs, strict=True):
        write_input_bin(path, tensor)
    return paths, geometry, True
