"""`segdeploy evaluate`: mmseg 1.x's extra metrics in the JSON, the saved (and plotted) confusion matrix,
`--reduce-zero-label`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segdeploy.cli import main
from segdeploy.data.datasets import list_samples, read_label
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.labels import reduce_zero_label
from segdeploy.evaluation.metrics import evaluate_arrays

MODEL = "fastscnn_cityscapes"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """3 labelled scenes and a prediction folder of noisy copies of their labels (npy class maps)."""
    root = tmp_path_factory.mktemp("eval")
    generate_cityscapes_like(root / "data", "val", 3, size=(32, 64), seed=5)
    rng = np.random.default_rng(0)
    preds, labels = [], []
    (root / "pred").mkdir()
    for sample in list_samples("cityscapes", root / "data", "val"):
        label = read_label("cityscapes", sample)
        pred = np.where(rng.random(label.shape) < 0.2, rng.integers(0, 19, label.shape), label % 19)
        np.save(root / "pred" / f"{sample.stem}_0.npy", pred.astype(np.int32))
        preds.append(pred)
        labels.append(label)
    return root, preds, labels


@pytest.mark.parametrize("reduce", [False, True])
def test_metrics_json_confusion_npy_and_plot(scored, capsys, reduce):
    root, preds, labels = scored
    out = root / f"m_{reduce}.json"
    argv = ["evaluate", "--model", MODEL, "--pred", str(root / "pred"), "--data-root", str(root / "data"),
            "--json", str(out), "--plot"] + (["--reduce-zero-label"] if reduce else [])
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Dice" in printed and "Fscore" in printed and "Precision" in printed
    metrics = json.loads(out.read_text())
    expected = evaluate_arrays(preds, [reduce_zero_label(x) if reduce else x for x in labels], num_classes=19)
    for name in ("mIoU", "mAcc", "aAcc", "mDice", "mFscore", "mPrecision", "mRecall"):
        assert metrics[name] == pytest.approx(getattr(expected, name), abs=1e-12), name
    assert metrics["reduce_zero_label"] is reduce and set(metrics["Dice"]) == set(metrics["IoU"])
    saved = np.load(root / f"m_{reduce}_confusion.npy")
    np.testing.assert_array_equal(saved, ConfusionMatrix.from_json(metrics["confusion_matrix"]).matrix)
    assert saved.shape == (20, 20) and saved.sum() == expected.area_label.sum() + saved[19].sum()
    with Image.open(root / f"m_{reduce}_confusion.png") as png:
        assert png.format == "PNG" and png.width > 300


def test_reduce_zero_label_with_the_official_evaluator_is_refused(scored, capsys):
    root, _, _ = scored
    code = main(["evaluate", "--model", MODEL, "--pred", str(root / "pred"), "--data-root", str(root / "data"),
                 "--reduce-zero-label", "--metric", "cityscapes"])
    err = capsys.readouterr().err
    assert code == 2 and "--reduce-zero-label: the official Cityscapes evaluator" in err and "Traceback" not in err
