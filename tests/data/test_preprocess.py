"""`preprocess` over an existing output folder: unchanged images are kept, changed ones rewritten,
images gone from the split removed, and a folder made for another model, variant or split refused."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from segdeploy.data.preprocess import preprocess_dataset
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.errors import SegdeployError
from segdeploy.models import MODELS
from segdeploy.models.spec import SlideWindow

SPEC = MODELS["fastscnn_cityscapes"]


@pytest.fixture
def data(tmp_path):
    generate_cityscapes_like(tmp_path / "cs", "val", 3, size=(32, 64), seed=5)
    return tmp_path / "cs"


def _bins(folder) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.glob("*.bin"))}


def _images(data) -> list:
    return sorted((data / "leftImg8bit" / "val").rglob("*.png"))


def test_rerun_keeps_unchanged_images_and_rewrites_a_changed_one(data, tmp_path):
    out = tmp_path / "bins"
    first = preprocess_dataset(SPEC, data, "val", out, show_progress=False)
    assert (first.written, first.already_done) == (3, 0)
    before = _bins(out)
    again = preprocess_dataset(SPEC, data, "val", out, show_progress=False)
    assert (again.written, again.already_done) == (0, 3) and _bins(out) == before
    changed = _images(data)[1]
    pixels = np.asarray(Image.open(changed)).copy()
    pixels[:8] = 0
    Image.fromarray(pixels).save(changed)
    third = preprocess_dataset(SPEC, data, "val", out, show_progress=False)
    assert (third.written, third.already_done) == (1, 2)
    after = _bins(out)
    name = changed.name.split(".", 1)[0] + ".bin"
    assert after[name][1] != before[name][1]  # the new pixels, not the old file
    assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}


def test_inputs_of_an_image_gone_from_the_split_are_removed(data, tmp_path):
    out = tmp_path / "bins"
    preprocess_dataset(SPEC, data, "val", out, show_progress=False)
    gone = _images(data)[0]
    gone.unlink()
    result = preprocess_dataset(SPEC, data, "val", out, show_progress=False)
    assert result.removed == 1 and len(_bins(out)) == 2
    assert not (out / (gone.name.split(".", 1)[0] + ".bin")).exists()
    record = json.loads((tmp_path / "bins.segdeploy.json").read_text())
    assert len(record["images"]) == 2


def test_a_smaller_image_leaves_no_stale_window_behind(tmp_path):
    spec = dataclasses.replace(MODELS["segmenter_vitl16_mask_cityscapes"], slide=SlideWindow(window=32, stride=24))
    generate_cityscapes_like(tmp_path / "cs", "val", 1, size=(40, 80), seed=2)
    out = tmp_path / "bins"
    preprocess_dataset(spec, tmp_path / "cs", "val", out, show_progress=False)
    assert len(_bins(out)) == 6  # anchors y 0, 8; x 0, 24, 48
    (image,) = _images(tmp_path / "cs")
    Image.open(image).crop((0, 0, 56, 32)).save(image)  # 32x56: x 0, 24; one row
    preprocess_dataset(spec, tmp_path / "cs", "val", out, show_progress=False)
    assert sorted(_bins(out)) == [f"{image.name.split('.', 1)[0]}_{k}.bin" for k in range(2)]


@pytest.mark.parametrize("other", ["model", "variant", "split"])
def test_a_folder_made_with_other_settings_is_refused_untouched(data, tmp_path, other):
    out = tmp_path / "bins"
    spec = MODELS["fcn_r50_d8_voc"] if other == "variant" else SPEC
    if other == "variant":  # a VOC model has two variants; preprocess Cityscapes images with it all the same
        spec = dataclasses.replace(spec, dataset="cityscapes")
    preprocess_dataset(spec, data, "val", out, show_progress=False)
    before = _bins(out)
    kwargs = {"model": dict(spec=MODELS["icnet_r50_cityscapes"]), "variant": dict(variant="mmseg-resize"),
              "split": dict(split="train")}[other]
    generate_cityscapes_like(data, "train", 1, size=(32, 64), seed=6)
    call = dict(spec=spec, data_root=data, split="val", out_dir=out, show_progress=False) | kwargs
    with pytest.raises(SegdeployError, match=rf"bins: was made with other settings \(.*{other}: "):
        preprocess_dataset(**call)
    assert _bins(out) == before


def test_a_folder_of_unrecorded_bins_is_refused(data, tmp_path):
    (tmp_path / "bins").mkdir()
    (tmp_path / "bins" / "mine.bin").write_bytes(b"\0" * 16)
    with pytest.raises(SegdeployError, match="did not record"):
        preprocess_dataset(SPEC, data, "val", tmp_path / "bins", show_progress=False)
