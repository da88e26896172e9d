"""ConfusionMatrix + segmentation_metrics reproduce mmsegmentation 0.x exactly (spec §4 and §8)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.labels import reduce_zero_label
from segdeploy.evaluation.metrics import SegMetrics, evaluate_arrays, segmentation_metrics

NAN = math.nan


def assert_metrics_equal(a: SegMetrics, b: SegMetrics) -> None:
    for field in ("aAcc", "mAcc", "mIoU"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    for field in ("IoU", "Acc", "area_intersect", "area_union", "area_pred", "area_label"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


# ---------------------------------------------------------------- hand-computed cases


def test_absent_class_is_nan_and_skipped_by_means_and_255_is_ignored():
    pred = np.array([[0, 0, 1, 2], [1, 1, 0, 2]])
    label = np.array([[0, 0, 1, 255], [1, 1, 1, 255]], dtype=np.uint8)
    m = evaluate_arrays([pred], [label], num_classes=3)
    # class 2 is only predicted on ignored pixels, so it is absent from both areas
    np.testing.assert_array_equal(m.area_intersect, [2, 3, 0])
    np.testing.assert_array_equal(m.area_label, [2, 4, 0])
    np.testing.assert_array_equal(m.area_pred, [3, 3, 0])
    np.testing.assert_array_equal(m.IoU, [2 / 3, 3 / 4, NAN])
    np.testing.assert_array_equal(m.Acc, [1.0, 3 / 4, NAN])
    assert m.mIoU == pytest.approx((2 / 3 + 3 / 4) / 2, rel=1e-15)
    assert m.mAcc == 0.875
    assert m.aAcc == 5 / 6


def test_out_of_range_label_counts_in_pred_area_and_union_but_not_in_label_area():
    label = np.array([[0, 21, 21, 5]], dtype=np.uint8)  # 21 is neither ignore nor a class for C=21
    pred = np.array([[0, 5, 7, 5]])
    m = evaluate_arrays([pred], [label], num_classes=21)
    assert m.area_label.sum() == 2
    assert m.area_pred[5] == 2 and m.area_pred[7] == 1
    assert m.IoU[0] == 1.0
    assert m.IoU[5] == 0.5  # masking 0 <= label < C first would wrongly give 1.0
    assert m.IoU[7] == 0.0  # ... and NaN here
    assert math.isnan(m.Acc[7])
    assert m.aAcc == 1.0
    assert m.mIoU == 0.5
    assert m.mAcc == 1.0


@pytest.mark.parametrize(
    "pred",
    [np.array([[0, 255, -1, 1]], dtype=np.int64), np.array([[0, 255, 255, 1]], dtype=np.uint8)],
    ids=["int64_255_and_-1", "uint8_255"],
)
def test_out_of_range_prediction_is_a_false_negative_only(pred):
    label = np.array([[0, 0, 1, 1]], dtype=np.int64)
    m = evaluate_arrays([pred], [label], num_classes=3)
    np.testing.assert_array_equal(m.area_pred, [1, 1, 0])  # nobody gets a false positive
    np.testing.assert_array_equal(m.area_label, [2, 2, 0])
    np.testing.assert_array_equal(m.IoU, [0.5, 0.5, NAN])
    np.testing.assert_array_equal(m.Acc, [0.5, 0.5, NAN])
    assert m.aAcc == 0.5


def test_predicted_but_absent_class_has_iou_zero_and_acc_nan():
    m = evaluate_arrays([np.array([[0, 2]])], [np.array([[0, 0]])], num_classes=3)
    np.testing.assert_array_equal(m.IoU, [0.5, NAN, 0.0])
    np.testing.assert_array_equal(m.Acc, [0.5, NAN, NAN])
    assert m.mIoU == 0.25  # the 0 enters mIoU
    assert m.mAcc == 0.5  # the NaN leaves mAcc


def test_all_ignored_gives_nan_everywhere_without_warnings():
    label = np.full((3, 4), 255, dtype=np.uint8)
    pred = np.zeros((3, 4), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = evaluate_arrays([pred], [label], num_classes=19)
    assert math.isnan(m.aAcc) and math.isnan(m.mAcc) and math.isnan(m.mIoU)
    assert np.isnan(m.IoU).all() and np.isnan(m.Acc).all()
    assert m.area_pred.sum() == 0


def test_all_ignore_image_contributes_nothing():
    pred, label = np.array([[0, 1, 1]]), np.array([[0, 1, 0]])
    alone = evaluate_arrays([pred], [label], num_classes=2)
    with_ignored = evaluate_arrays(
        [pred, np.ones((5, 5), np.int64)], [label, np.full((5, 5), 255, np.uint8)], num_classes=2
    )
    assert_metrics_equal(alone, with_ignored)


def test_dtype_does_not_matter_and_uint8_never_wraps():
    rng = np.random.default_rng(0)
    # 200 and 250 make C * label + pred overflow uint8 many times over
    values = np.array([0, 1, 2, 20, 21, 200, 250, 255])
    preds = [rng.choice(values, size=(7, 9)) for _ in range(3)]
    labels = [rng.choice(values, size=(7, 9)) for _ in range(3)]
    expected = evaluate_arrays(preds, labels, num_classes=21)
    for pred_dtype in (np.uint8, np.int32, np.int64, np.uint16):
        for label_dtype in (np.uint8, np.int32, np.int64, np.int16):
            got = evaluate_arrays(
                [p.astype(pred_dtype) for p in preds],
                [lb.astype(label_dtype) for lb in labels],
                num_classes=21,
            )
            assert_metrics_equal(expected, got)


def test_inputs_are_not_mutated():
    pred = np.array([[0, 300, -1], [2, 2, 1]], dtype=np.int64)
    label = np.array([[0, 255, 21], [2, 254, 1]], dtype=np.uint8)
    pred_copy, label_copy = pred.copy(), label.copy()
    for arr in (pred, label):
        arr.setflags(write=False)  # any in-place write would raise
    evaluate_arrays([pred], [label], num_classes=21)
    np.testing.assert_array_equal(pred, pred_copy)
    np.testing.assert_array_equal(label, label_copy)
    assert pred.dtype == np.int64 and label.dtype == np.uint8


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        ConfusionMatrix(4).update(np.zeros((2, 3), np.int64), np.zeros((3, 2), np.uint8))


def test_non_integer_input_is_rejected():
    with pytest.raises(TypeError, match="float"):
        ConfusionMatrix(4).update(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8))


def test_unequal_numbers_of_predictions_and_labels_raise():
    with pytest.raises(ValueError):
        evaluate_arrays([np.zeros((2, 2), np.int64)] * 2, [np.zeros((2, 2), np.uint8)], num_classes=2)


def test_results_are_read_only():
    m = evaluate_arrays([np.array([[0]])], [np.array([[0]])], num_classes=2)
    with pytest.raises(ValueError):
        m.IoU[0] = 0.0


# ---------------------------------------------------------------- accumulation, merge, resume


def _random_pairs(rng: np.random.Generator, num_classes: int, count: int):
    """Predictions and labels mixing classes, ignore, out-of-range labels and out-of-range predictions."""
    pairs = []
    for _ in range(count):
        shape = tuple(rng.integers(1, 13, size=2))
        label = rng.integers(0, num_classes, size=shape)
        label[rng.random(shape) < 0.15] = 255
        label[rng.random(shape) < 0.05] = num_classes + 3  # neither ignore nor a class
        pred = np.where(rng.random(shape) < 0.5, label, rng.integers(0, num_classes, size=shape))
        pred[rng.random(shape) < 0.05] = rng.choice([-1, 255, num_classes])
        pairs.append((pred.astype(np.int64), label.astype(np.uint8)))
    return pairs


def test_merge_equals_one_accumulator_over_everything():
    pairs = _random_pairs(np.random.default_rng(1), 5, 6)
    whole, first, second = ConfusionMatrix(5), ConfusionMatrix(5), ConfusionMatrix(5)
    for i, (pred, label) in enumerate(pairs):
        whole.update(pred, label)
        (first if i % 2 else second).update(pred, label)
    first.merge(second)
    np.testing.assert_array_equal(first.matrix, whole.matrix)
    with pytest.raises(ValueError, match="5 classes"):
        first.merge(ConfusionMatrix(6))


def test_json_round_trip_keeps_exact_int64_counts():
    cm = ConfusionMatrix(3, ignore_index=255)
    for pred, label in _random_pairs(np.random.default_rng(2), 3, 3):
        cm.update(pred, label)
    cm.matrix[0, 0] += 2**40  # past float32 (2**24) and float64-safe only as int64
    restored = ConfusionMatrix.from_json(json.loads(json.dumps(cm.to_json())))
    assert restored.matrix.dtype == np.int64
    np.testing.assert_array_equal(restored.matrix, cm.matrix)
    assert (restored.num_classes, restored.ignore_index) == (3, 255)
    assert segmentation_metrics(restored).area_intersect[0] == cm.matrix[0, 0]


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {"num_classes": 2, "ignore_index": 255, "matrix": [[0]]},
        {"num_classes": 1, "ignore_index": 255, "matrix": [[0, -1], [0, 0]]},
    ],
    ids=["empty", "wrong_shape", "negative"],
)
def test_malformed_snapshot_is_rejected(snapshot):
    with pytest.raises(ValueError, match="snapshot"):
        ConfusionMatrix.from_json(snapshot)


def test_all_reduce_is_a_no_op_without_torch_distributed():
    cm = ConfusionMatrix(2)
    cm.update(np.array([[0, 1]]), np.array([[0, 0]]))
    before = cm.matrix.copy()
    cm.all_reduce_()
    np.testing.assert_array_equal(cm.matrix, before)


def _all_reduce_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        cm = ConfusionMatrix(2)
        cm.update(np.full((2, 2), rank), np.full((2, 2), rank))
        cm.matrix[2, 2] = 2**40 + rank  # a float32 reduction would lose the +1
        cm.all_reduce_()
        np.save(Path(out_dir) / f"rank{rank}.npy", cm.matrix)
    finally:
        dist.destroy_process_group()


def test_all_reduce_sums_int64_matrices_over_gloo_processes(tmp_path):
    import torch.multiprocessing as mp

    # fork: the workers inherit the imported torch, which keeps this test well under a second
    mp.start_processes(
        _all_reduce_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, start_method="fork"
    )
    expected = np.array([[4, 0, 0], [0, 4, 0], [0, 0, 2**41 + 1]], dtype=np.int64)
    for rank in range(2):
        got = np.load(tmp_path / f"rank{rank}.npy")
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- independent reference


def reference_metrics(pairs, num_classes: int, ignore_index: int = 255) -> dict:
    """Spec §4 read literally: per-class counts over non-ignored pixels, one class at a time."""
    inter, area_pred, area_label = [0] * num_classes, [0] * num_classes, [0] * num_classes
    for pred, label in pairs:
        kept = [(int(p), int(lb)) for p, lb in zip(pred.ravel(), label.ravel()) if int(lb) != ignore_index]
        for c in range(num_classes):
            area_label[c] += sum(1 for _, lb in kept if lb == c)
            area_pred[c] += sum(1 for p, _ in kept if p == c)
            inter[c] += sum(1 for p, lb in kept if p == c and lb == c)
    union = [area_pred[c] + area_label[c] - inter[c] for c in range(num_classes)]
    iou = [inter[c] / union[c] if union[c] else NAN for c in range(num_classes)]
    acc = [inter[c] / area_label[c] if area_label[c] else NAN for c in range(num_classes)]

    def mean_defined(values):
        defined = [v for v in values if not math.isnan(v)]
        return sum(defined) / len(defined) if defined else NAN

    return {
        "aAcc": sum(inter) / sum(area_label) if sum(area_label) else NAN,
        "IoU": iou,
        "Acc": acc,
        "mIoU": mean_defined(iou),
        "mAcc": mean_defined(acc),
        "area_pred": area_pred,
        "area_label": area_label,
        "area_intersect": inter,
        "area_union": union,
    }


@pytest.mark.parametrize("num_classes", [1, 3, 21])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_independent_per_class_reference(num_classes, seed):
    pairs = _random_pairs(np.random.default_rng(seed), num_classes, 4)
    ref = reference_metrics(pairs, num_classes)
    m = evaluate_arrays([p for p, _ in pairs], [lb for _, lb in pairs], num_classes)
    for field in ("area_pred", "area_label", "area_intersect", "area_union", "IoU", "Acc"):
        np.testing.assert_array_equal(getattr(m, field), ref[field], err_msg=field)
    for field in ("aAcc", "mIoU", "mAcc"):
        assert getattr(m, field) == pytest.approx(ref[field], rel=1e-12, nan_ok=True), field
    # mmseg takes np.nanmean of the per-class arrays; ours is bit-identical to it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_array_equal(m.mIoU, np.nanmean(np.array(ref["IoU"])))
        np.testing.assert_array_equal(m.mAcc, np.nanmean(np.array(ref["Acc"])))


# ---------------------------------------------------------------- mmseg 1.x extras: Dice, Precision, Recall, Fscore


def test_dice_precision_recall_fscore_as_mmseg_1x_defines_them():
    pred = np.array([[0, 0, 1, 1], [2, 2, 1, 0]])
    label = np.array([[0, 1, 1, 1], [2, 0, 3, 255]], dtype=np.uint8)
    m = evaluate_arrays([pred], [label], num_classes=4)
    # class: intersect, pred area, label area = 0: (1, 2, 2), 1: (2, 3, 3), 2: (1, 2, 1), 3: (0, 0, 1)
    np.testing.assert_allclose(m.Dice, [2 * 1 / 4, 2 * 2 / 6, 2 * 1 / 3, 0.0])
    np.testing.assert_allclose(m.Precision, [1 / 2, 2 / 3, 1 / 2, NAN])
    np.testing.assert_allclose(m.Recall, [1 / 2, 2 / 3, 1.0, 0.0])
    np.testing.assert_array_equal(m.Recall, m.Acc)
    f1 = [2 * p * r / (p + r) for p, r in ((1 / 2, 1 / 2), (2 / 3, 2 / 3), (1 / 2, 1.0))]
    np.testing.assert_allclose(m.Fscore, [*f1, NAN])
    assert m.mDice == pytest.approx(np.mean([1 / 2, 2 / 3, 2 / 3, 0.0]))
    assert m.mPrecision == pytest.approx(np.mean([1 / 2, 2 / 3, 1 / 2]))  # NaN skipped, as np.nanmean
    assert m.mFscore == pytest.approx(np.mean(f1))


def test_fscore_of_a_class_predicted_and_labelled_but_never_hit_is_nan_as_in_mmseg():
    """mmseg 1.x computes (1 + b^2) P R / (b^2 P + R) with P = R = 0 as 0/0 = NaN, dropping it from mFscore."""
    m = evaluate_arrays([np.array([[1, 0]])], [np.array([[0, 1]], dtype=np.uint8)], num_classes=2)
    np.testing.assert_array_equal(m.Precision, [0.0, 0.0])
    assert np.isnan(m.Fscore).all() and np.isnan(m.mFscore) and m.mDice == 0.0


def test_reduce_zero_label_as_mmseg_loads_annotations():
    label = np.array([[0, 1, 2], [150, 254, 255]], dtype=np.uint8)
    before = label.copy()
    np.testing.assert_array_equal(reduce_zero_label(label), [[255, 0, 1], [149, 253, 255]])
    np.testing.assert_array_equal(label, before)  # the input is not written
    assert reduce_zero_label(label).dtype == np.uint8
    with pytest.raises(ValueError):
        reduce_zero_label(np.array([[-1, 300]]))
