"""Our mIoU equals cityscapesscripts' official evaluator on a tiny on-disk Cityscapes tree (spec §5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segdeploy.data.cityscapes import CITYSCAPES_CLASSES, ID_TO_TRAINID
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.cityscapes_official import (
    evaluate_official,
    evaluate_official_arrays,
    write_prediction,
)
from segdeploy.evaluation.metrics import evaluate_arrays

CORES = ("frankfurt_000000_000294", "frankfurt_000001_007973", "lindau_000000_000019")
SHAPE = (16, 32)  # the evaluator's pure-numpy path is slow on real sizes; tiny is enough
FIRST_INSTANCE_ID = 24  # person; ids 24..33 are the classes with instances


def make_tree(root: Path, with_instances: bool, seed: int = 0) -> tuple[list[Path], dict[str, np.ndarray]]:
    """gtFine/val/<city>/<core>_gtFine_labelIds.png (+ instanceIds) and trainId predictions."""
    rng = np.random.default_rng(seed)
    gt_files, predictions = [], {}
    for core in CORES:
        city_dir = root / "gtFine" / "val" / core.split("_")[0]
        city_dir.mkdir(parents=True, exist_ok=True)
        label_ids = rng.integers(0, 34, size=SHAPE).astype(np.uint8)
        gt_file = city_dir / f"{core}_gtFine_labelIds.png"
        Image.fromarray(label_ids).save(gt_file)
        gt_files.append(gt_file)
        if with_instances:
            # one instance per class and 8-column stripe, numbered id*1000 + k like the real files
            instance_ids = label_ids.astype(np.uint16)
            has_instances = label_ids >= FIRST_INSTANCE_ID
            stripe = np.broadcast_to(np.arange(SHAPE[1]) // 8, SHAPE)
            instance_ids[has_instances] = instance_ids[has_instances] * 1000 + stripe[has_instances]
            Image.fromarray(instance_ids).save(city_dir / f"{core}_gtFine_instanceIds.png")
        # mostly right, sometimes another class, 255 ("no class") or an out-of-range 100
        train_ids = ID_TO_TRAINID[label_ids].astype(np.int64)
        wrong = rng.random(SHAPE) < 0.4
        train_ids[wrong] = rng.choice([*range(19), 255, 100], size=int(wrong.sum()))
        predictions[core] = train_ids
    return gt_files, predictions


def our_metrics(gt_files: list[Path], predictions: dict[str, np.ndarray]):
    labels = [ID_TO_TRAINID[np.array(Image.open(gt))] for gt in gt_files]
    preds = [predictions[gt.name.removesuffix("_gtFine_labelIds.png")] for gt in gt_files]
    return evaluate_arrays(preds, labels, num_classes=len(CITYSCAPES_CLASSES))


def test_class_iou_and_miou_equal_the_official_evaluator(tmp_path):
    gt_files, predictions = make_tree(tmp_path, with_instances=False)
    official = evaluate_official_arrays(predictions, gt_files)
    ours = our_metrics(gt_files, predictions)
    assert list(official.class_iou) == list(CITYSCAPES_CLASSES)
    np.testing.assert_array_equal(ours.IoU, list(official.class_iou.values()))
    # same IoUs; only the order of summing them differs (Python loop vs numpy)
    assert ours.mIoU == pytest.approx(official.mean_iou, rel=1e-12)
    assert official.class_iiou is None and official.mean_iiou is None
    categories = {"flat", "construction", "object", "nature", "sky", "human", "vehicle"}
    assert set(official.category_iou) == categories
    assert 0.0 < official.mean_category_iou <= 1.0


def test_instance_scores_work_on_a_numpy_without_in1d(tmp_path, monkeypatch):
    gt_files, predictions = make_tree(tmp_path, with_instances=True)
    results = tmp_path / "results"
    for core, train_ids in predictions.items():
        write_prediction(results, core, train_ids)
    with_numpy_in1d = evaluate_official(gt_files, results)

    monkeypatch.delattr(np, "in1d")  # NumPy 2.4 removed it; the evaluator still calls it
    without = evaluate_official(gt_files, results, export_json=tmp_path / "official.json")
    assert not hasattr(np, "in1d")  # the alias lived only for the call

    assert without == with_numpy_in1d
    instance_classes = {"person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"}
    assert set(without.class_iiou) == instance_classes
    assert set(without.category_iiou) == {"human", "vehicle"}
    assert 0.0 < without.mean_iiou <= 1.0
    np.testing.assert_array_equal(our_metrics(gt_files, predictions).IoU, list(without.class_iou.values()))
    exported = json.loads((tmp_path / "official.json").read_text())
    assert exported["averageScoreInstClasses"] == pytest.approx(without.mean_iiou)


def test_missing_prediction_is_a_user_error(tmp_path):
    gt_files, predictions = make_tree(tmp_path, with_instances=False)
    del predictions[CORES[1]]
    with pytest.raises(SegdeployError, match=f"{CORES[1]}_leftImg8bit.png: no prediction"):
        evaluate_official_arrays(predictions, gt_files)


def test_evaluator_abort_becomes_a_one_line_user_error(tmp_path):
    gt_files, predictions = make_tree(tmp_path, with_instances=False)
    Image.fromarray(np.full(SHAPE, 40, np.uint8)).save(gt_files[0])  # 40 is no Cityscapes label id
    with pytest.raises(SegdeployError, match="Unknown label with id 40"):
        evaluate_official_arrays(predictions, gt_files)
