"""`segdeploy preprocess`: dataset images -> float32 NCHW `.bin` inputs, an `.info` file and a geometry index.

Per image the chosen variant makes one input (`<stem>.bin`) or one per window (`<stem>_<k>.bin`),
exactly what ais_bench is then fed. Beside the guides' `.info` (`index path width height` of each
`.bin`), `<info>.index.json` records each sample's geometry (variant, image size, resize, pad,
window positions) and any skipped image, so the run can be post-processed and audited without
the preprocessing code.

The output folder's record beside it (`OUT.segdeploy.json`: model, variant, the preprocessing
numbers, data root and split) says what made it and, per image, the source file's size and mtime
when its inputs were written. A rerun keeps an image's files only when that record still matches; a changed
image is rewritten, files of images no longer in the split are removed, and a folder made with
other settings is refused.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from segdeploy.data.binio import InfoEntry, write_info, write_input_bin
from segdeploy.data.cityscapes import Sample
from segdeploy.data.datasets import list_samples
from segdeploy.data.images import image_size, read_rgb
from segdeploy.data.variants import Geometry, geometry_for, get_variant, input_stems, make_inputs
from segdeploy.errors import SegdeployError
from segdeploy.models.spec import ModelSpec, Variant
from segdeploy.reporting import fingerprint as run_record
from segdeploy.reporting.atomic import write_json_atomic
from segdeploy.reporting.progress import progress_bar


@dataclass(frozen=True)
class PreprocessFingerprint:
    """What turns a split's images into this folder's `.bin` values."""

    KIND: ClassVar[str] = "preprocess"

    model: str
    variant: str
    preprocessing: str  # mean, std, channel order, the variant's kind and size, the sliding window
    data_root: str
    split: str


@dataclass(frozen=True)
class PreprocessResult:
    out_dir: Path
    info_path: Path
    index_path: Path
    written: int  # images whose inputs were written by this run (new, or changed since)
    already_done: int  # images whose recorded inputs were still up to date
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "error"} per bad image
    removed: int = 0  # stale input files of earlier runs deleted (images gone or now bad, fewer windows)


def preprocess_fingerprint(spec: ModelSpec, variant: Variant, data_root: Path, split: str) -> PreprocessFingerprint:
    numbers = {"preprocess": dataclasses.asdict(spec.preprocess), "variant": dataclasses.asdict(variant),
               "slide": dataclasses.asdict(spec.slide) if spec.slide else None}
    return PreprocessFingerprint(spec.name, variant.name, json.dumps(numbers, sort_keys=True),
                                 str(data_root.resolve()), split)


def preprocess_dataset(spec: ModelSpec, data_root: Path, split: str, out_dir: Path, info_path: Path | None = None,
                       variant: str | None = None, skip_bad: bool = False,
                       show_progress: bool = True) -> PreprocessResult:
    """Write every image's network inputs per `spec` and `variant` into `out_dir`.

    Inputs already written for an unchanged image are kept (writes are atomic and recorded after
    them, so a recorded file is complete): an interrupted run resumes. With `skip_bad`, an
    unreadable image is recorded and left out instead of stopping the run.
    """
    chosen = get_variant(spec, variant)
    samples = list_samples(spec.dataset, data_root, split, require_labels=False)
    records = _open_out_dir(out_dir, preprocess_fingerprint(spec, chosen, data_root, split))
    entries: list[InfoEntry] = []
    index: dict[str, dict] = {}
    skipped: list[dict[str, str]] = []
    written = 0
    with progress_bar("preprocess", len(samples), enabled=show_progress) as advance:
        for sample in samples:
            try:
                paths, geometry, wrote = _preprocess_one(spec, chosen, sample, out_dir, records)
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
    removed = _remove_stale(out_dir, records, keep=set(index))
    records.save()
    info_path = info_path or out_dir.with_suffix(".info")
    write_info(info_path, entries)
    index_path = info_path.with_suffix(".index.json")
    write_json_atomic(index_path, {"model": spec.name, "variant": chosen.name, "samples": index,
                                   "skipped": skipped})
    return PreprocessResult(out_dir, info_path, index_path, written, len(index) - written, skipped, removed)


class _ImageRecords:
    """Per-image records of an output folder (`stem -> source stamp + input names`), saved with its
    fingerprint. Saved after the files they vouch for, at most once a second (every image would
    rewrite a large record thousands of times) and at the end: an unsaved record only costs a rewrite."""

    def __init__(self, out_dir: Path, fingerprint: PreprocessFingerprint, images: dict[str, dict[str, Any]]):
        self.out_dir, self.fingerprint, self.images = out_dir, fingerprint, images
        self.saved_at = 0.0

    def save(self, at_most_every_s: float = 0.0) -> None:
        if time.monotonic() - self.saved_at >= at_most_every_s:
            run_record.save(self.out_dir, self.fingerprint, images=self.images)
            self.saved_at = time.monotonic()


def _open_out_dir(out_dir: Path, fingerprint: PreprocessFingerprint) -> _ImageRecords:
    """The per-image records of an earlier run with the same fingerprint (none for a new folder).

    A folder made with other settings is refused, and so is one holding `.bin` files that no
    segdeploy preprocess recorded: keeping them would mix their inputs into every later `infer`.
    """
    if run_record.has_record(out_dir):
        record = run_record.require_same(out_dir, fingerprint, advice="choose another --out (or delete this one)")
        return _ImageRecords(out_dir, fingerprint, dict(record.get("images", {})))
    if out_dir.is_dir() and any(p.suffix.lower() == ".bin" for p in out_dir.iterdir()):
        raise SegdeployError.at(out_dir, f"holds .bin files that segdeploy preprocess did not record (no "
                                         f"{run_record.record_path(out_dir).name} beside it); choose an empty --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    records = _ImageRecords(out_dir, fingerprint, {})
    records.save()
    return records


def _source_stamp(sample: Sample) -> dict[str, Any]:
    """What says an image file is still the one its inputs were made from."""
    try:
        stat = sample.image_path.stat()
    except OSError as err:
        raise SegdeployError.at(sample.image_path, f"cannot read ({err.strerror or err})") from None
    return {"source": sample.image_path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _preprocess_one(spec: ModelSpec, variant: Variant, sample: Sample, out_dir: Path,
                    records: _ImageRecords) -> tuple[list[Path], Geometry, bool]:
    """Write one image's inputs unless its record is up to date; returns their paths, the geometry
    and whether it wrote."""
    stamp = _source_stamp(sample)
    geometry = geometry_for(spec, variant, image_size(sample.image_path))  # header only
    names = [f"{stem}.bin" for stem in input_stems(sample.stem, geometry)]
    paths = [out_dir / name for name in names]
    earlier = records.images.get(sample.stem, {})
    if earlier == {**stamp, "inputs": names} and all(p.is_file() for p in paths):
        return paths, geometry, False
    inputs, geometry = make_inputs(spec, variant, read_rgb(sample.image_path))
    for path, tensor in zip(paths, inputs, strict=True):
        write_input_bin(path, tensor)
    for name in set(earlier.get("inputs", [])) - set(names):
        (out_dir / name).unlink(missing_ok=True)  # the image changed size: fewer windows now
    records.images[sample.stem] = {**stamp, "inputs": names}
    records.save(at_most_every_s=1.0)
    return paths, geometry, True


def _remove_stale(out_dir: Path, records: _ImageRecords, keep: set[str]) -> int:
    """Delete the recorded inputs of images this run did not produce (gone from the split, or bad now)."""
    removed = 0
    for stem in [stem for stem in records.images if stem not in keep]:
        for name in records.images.pop(stem).get("inputs", []):
            path = out_dir / name
            removed += path.is_file()
            path.unlink(missing_ok=True)
    return removed
