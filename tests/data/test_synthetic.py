"""The synthetic generator: deterministic, in the real Cityscapes layout, with valid ids."""

from __future__ import annotations

import numpy as np
from PIL import Image

from segdeploy.data.cityscapes import ID_TO_TRAINID, list_cityscapes, read_cityscapes_label
from segdeploy.data.images import read_label
from segdeploy.data.synthetic import generate_cityscapes_like

SIZE = (64, 128)


def _tree_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_two_runs_write_identical_bytes(tmp_path):
    generate_cityscapes_like(tmp_path / "a", "train", 3, SIZE, seed=5)
    generate_cityscapes_like(tmp_path / "b", "train", 3, SIZE, seed=5)
    assert _tree_bytes(tmp_path / "a") == _tree_bytes(tmp_path / "b")
    generate_cityscapes_like(tmp_path / "c", "train", 3, SIZE, seed=6)
    assert _tree_bytes(tmp_path / "a") != _tree_bytes(tmp_path / "c")


def test_layout_and_file_formats(tmp_path):
    images = generate_cityscapes_like(tmp_path, "val", 2, SIZE, seed=1, city="testville")
    assert images[0] == tmp_path / "leftImg8bit/val/testville/testville_000000_000000_leftImg8bit.png"
    gt = tmp_path / "gtFine/val/testville/testville_000000_000001_gtFine"
    kinds = ("labelIds", "labelTrainIds", "instanceIds", "color")
    modes = {kind: Image.open(f"{gt}_{kind}.png").mode for kind in kinds}
    assert modes == {"labelIds": "L", "labelTrainIds": "L", "instanceIds": "I;16", "color": "RGBA"}
    image = Image.open(images[1])
    assert image.mode == "RGB" and image.size == (SIZE[1], SIZE[0])
    samples = list_cityscapes(tmp_path, "val")
    assert [s.image_path for s in samples] == images


def test_ids_valid_train_ids_consistent_and_classes_covered(tmp_path):
    generate_cityscapes_like(tmp_path, "train", 10, (128, 256), seed=0)
    seen = set()
    for sample in list_cityscapes(tmp_path, "train"):
        gt = str(sample.label_path).replace("_labelTrainIds.png", "")
        label_ids = read_label(f"{gt}_labelIds.png")
        assert (ID_TO_TRAINID[label_ids] >= 0).all()
        train_ids = read_cityscapes_label(sample)
        np.testing.assert_array_equal(train_ids, ID_TO_TRAINID[label_ids].astype(np.uint8))
        instances = np.asarray(Image.open(f"{gt}_instanceIds.png")).astype(np.int64)
        np.testing.assert_array_equal(np.where(instances >= 1000, instances // 1000, instances), label_ids)
        seen |= set(np.unique(train_ids).tolist()) - {255}
    assert len(seen) >= 8, seen


def test_rerun_with_same_parameters_rewrites_nothing_and_smaller_count_prunes(tmp_path):
    images = generate_cityscapes_like(tmp_path, "train", 3, SIZE)
    stamp = images[0].stat().st_mtime_ns
    assert generate_cityscapes_like(tmp_path, "train", 3, SIZE) == images
    assert images[0].stat().st_mtime_ns == stamp
    generate_cityscapes_like(tmp_path, "train", 2, SIZE)
    assert len(list_cityscapes(tmp_path, "train")) == 2
    assert len(list((tmp_path / "gtFine/train/synthtown").iterdir())) == 2 * 4
