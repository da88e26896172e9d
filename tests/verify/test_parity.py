"""The numbers and the verdict of one engine output against the reference's."""

from __future__ import annotations

import numpy as np

from segdeploy.evaluation.confusion import ConfusionMatrix
from segdeploy.evaluation.metrics import segmentation_metrics
from segdeploy.verify.criteria import Criteria
from segdeploy.verify.parity import MetricDeltas, compare_logits, merge, metric_failures, output_failures


def _logits(seed: int = 0, shape=(1, 4, 8, 8)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 5


def test_statistics_of_a_known_perturbation():
    ref = _logits()
    got = ref.copy()
    got[0, 1, 2, 3] += 0.5
    d = compare_logits(ref, got, Criteria(atol=0.1, rtol=0.0))
    assert np.isclose(d.max_abs, 0.5, rtol=1e-6) and np.isclose(d.mean_abs, 0.5 / ref.size, rtol=1e-5)
    assert np.isclose(d.max_rel, 0.5 / (abs(ref[0, 1, 2, 3]) + 1e-7), rtol=1e-5)
    assert not d.within_tolerance and d.pixels == 64 and d.values == ref.size
    assert compare_logits(ref, got, Criteria(atol=0.0, rtol=0.5 / abs(ref[0, 1, 2, 3]) + 1e-6)).within_tolerance


def test_argmax_agreement_counts_pixels():
    ref = _logits()
    got = ref.copy()
    got[0, :, 0, :2] = ref[0, ::-1, 0, :2]  # reverse the class order of two pixels
    changed = int((ref[0, :, 0, :2].argmax(0) != ref[0, ::-1, 0, :2].argmax(0)).sum())
    assert changed > 0
    d = compare_logits(ref, got, Criteria(atol=None, rtol=None))
    assert d.agreement == 1 - changed / 64 and d.within_tolerance  # no tolerance given: not checked
    assert output_failures(d, Criteria(atol=None, rtol=None, min_agreement=1.0)) == [
        f"argmax agreement {d.agreement:.4%} is below 100.0000%"]


def test_any_non_finite_value_fails_and_says_which_side():
    ref = _logits()
    got = np.full_like(ref, np.nan)  # all NaN: argmax picks class 0 everywhere, and some pixels "agree"
    d = compare_logits(ref, got, Criteria(atol=None, rtol=None, min_agreement=None))
    assert d.nonfinite == ref.size and np.isnan(d.max_abs) and d.agreement > 0
    assert output_failures(d, Criteria(atol=None, rtol=None, min_agreement=None)) == [
        f"the engine gives {ref.size:,} non-finite logits (NaN or inf)"]
    garbage = compare_logits(got, got, Criteria())
    assert any(f.startswith("PyTorch itself gives") for f in output_failures(garbage, Criteria()))


def test_merge_weights_means_and_keeps_nan_maxima():
    a = compare_logits(_logits(0), _logits(0) + 1, Criteria())
    b = compare_logits(_logits(1, (1, 4, 8, 24)), _logits(1, (1, 4, 8, 24)), Criteria())
    m = merge([a, b])
    assert m.pixels == 64 * 4 and np.isclose(m.mean_abs, 0.25) and np.isclose(m.max_abs, 1)
    assert np.isclose(m.agreement, (a.agreement * 64 + 192) / 256) and not m.within_tolerance
    nan = compare_logits(_logits(0), np.full((1, 4, 8, 8), np.nan, np.float32), Criteria())
    assert np.isnan(merge([a, nan]).max_abs) and np.isnan(merge([nan, a]).max_abs)


def test_mIoU_drop_beyond_the_budget_fails():
    label = np.array([[0, 0, 1, 1]])
    ref_cm, eng_cm = ConfusionMatrix(2), ConfusionMatrix(2)
    ref_cm.update(label, label)
    eng_cm.update(np.array([[0, 0, 0, 1]]), label)
    deltas = MetricDeltas(segmentation_metrics(ref_cm), segmentation_metrics(eng_cm))
    assert np.isclose(deltas.d_mIoU, -41.666666, atol=1e-4) and np.isclose(deltas.d_aAcc, -25)
    assert metric_failures(deltas, Criteria(max_drop=41.0)) and not metric_failures(deltas, Criteria(max_drop=42.0))
    assert not metric_failures(deltas, Criteria(max_drop=None))
