"""The Cityscapes layout reader on tiny trees in the real layout."""

from __future__ import annotations

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label
from PIL import Image

from segdeploy.data.cityscapes import ID_TO_TRAINID, Sample, list_cityscapes, read_cityscapes_label
from segdeploy.errors import SegdeployError

ALL_IDS = np.arange(34, dtype=np.uint8).reshape(2, 17)


def _make(root, split, city, core, label_ids=ALL_IDS, suffixes=("labelIds",)):
    img_dir = root / "leftImg8bit" / split / city
    gt_dir = root / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((*label_ids.shape, 3), np.uint8)).save(img_dir / f"{core}_leftImg8bit.png")
    if "labelIds" in suffixes:
        Image.fromarray(label_ids).save(gt_dir / f"{core}_gtFine_labelIds.png")
    if "labelTrainIds" in suffixes:
        train_ids = ID_TO_TRAINID[label_ids].astype(np.uint8)
        Image.fromarray(train_ids).save(gt_dir / f"{core}_gtFine_labelTrainIds.png")


def test_list_is_sorted_by_city_then_file(tmp_path):
    _make(tmp_path, "val", "munster", "munster_000000_000019")
    _make(tmp_path, "val", "frankfurt", "frankfurt_000001_000019")
    _make(tmp_path, "val", "frankfurt", "frankfurt_000000_000294")
    samples = list_cityscapes(tmp_path, "val")
    assert [s.stem for s in samples] == ["frankfurt_000000_000294_leftImg8bit",
                                         "frankfurt_000001_000019_leftImg8bit",
                                         "munster_000000_000019_leftImg8bit"]
    assert samples[0].label_path.name == "frankfurt_000000_000294_gtFine_labelIds.png"


def test_label_ids_map_to_train_ids_as_cityscapesscripts_says(tmp_path):
    _make(tmp_path, "val", "lindau", "lindau_000000_000019")
    (sample,) = list_cityscapes(tmp_path, "val")
    train_ids = read_cityscapes_label(sample)
    assert train_ids.dtype == np.uint8
    expected = [id2label[i].trainId for i in range(34)]
    assert train_ids.ravel().tolist() == [255 if t in (-1, 255) else t for t in expected]


def test_train_ids_file_wins_and_gives_the_same_map(tmp_path):
    _make(tmp_path, "val", "lindau", "lindau_000000_000019", suffixes=("labelIds", "labelTrainIds"))
    (sample,) = list_cityscapes(tmp_path, "val")
    assert sample.label_path.name.endswith("_gtFine_labelTrainIds.png")
    np.testing.assert_array_equal(read_cityscapes_label(sample), ID_TO_TRAINID[ALL_IDS].astype(np.uint8))


def test_missing_label_is_an_error_only_when_required(tmp_path):
    _make(tmp_path, "test", "bonn", "bonn_000000_000019", suffixes=())
    with pytest.raises(SegdeployError, match="bonn_000000_000019_gtFine_labelIds.png: no label"):
        list_cityscapes(tmp_path, "test")
    (sample,) = list_cityscapes(tmp_path, "test", require_labels=False)
    assert sample.label_path is None
    with pytest.raises(SegdeployError, match="has no gtFine label"):
        read_cityscapes_label(sample)


def test_label_id_outside_0_33_names_file_and_value(tmp_path):
    _make(tmp_path, "val", "lindau", "lindau_000000_000019", label_ids=np.array([[7, 40]], np.uint8))
    (sample,) = list_cityscapes(tmp_path, "val")
    with pytest.raises(SegdeployError, match="labelIds.png: label id 40 is outside 0..33"):
        read_cityscapes_label(sample)


def test_bad_train_id_is_rejected(tmp_path):
    gt = tmp_path / "x_gtFine_labelTrainIds.png"
    Image.fromarray(np.array([[0, 19]], np.uint8)).save(gt)
    with pytest.raises(SegdeployError, match="trainId 19 is not"):
        read_cityscapes_label(Sample("x_leftImg8bit", tmp_path / "x_leftImg8bit.png", gt))


def test_missing_or_empty_split_folder(tmp_path):
    with pytest.raises(SegdeployError, match=r"leftImg8bit/val: no such folder"):
        list_cityscapes(tmp_path, "val")
    (tmp_path / "leftImg8bit" / "val" / "frankfurt").mkdir(parents=True)
    with pytest.raises(SegdeployError, match=r"leftImg8bit/val: no \*_leftImg8bit.png images found"):
        list_cityscapes(tmp_path, "val")
