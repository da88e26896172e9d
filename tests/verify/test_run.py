"""verify_engine on labelled images and random inputs, with engines that are right, noisy, NaN or broken."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segdeploy.data.variants import geometry_for
from segdeploy.errors import SegdeployError
from segdeploy.models import MODELS
from segdeploy.runtime.engine_io import EngineIO
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.runtime.torch_backend import TorchBackend
from segdeploy.verify.criteria import Criteria
from segdeploy.verify.run import VerifyConfig, verify_engine

from .conftest import HW, SPEC


class Altered:
    """The reference model as an engine, its logits passed through `change`."""

    fixed_batch = None
    fixed_hw = None

    def __init__(self, model, change, name: str = "altered") -> None:
        self.torch, self.change, self.name = TorchBackend(model), change, name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.change(self.torch(batch))


def _verify(exported, engine, program=None, **config):
    config = {"random_sizes": (HW,), **config}
    return verify_engine(SPEC, exported.model, engine, VerifyConfig(show_progress=False, **config), program)


def test_the_same_network_passes_with_zero_deltas(exported, cityscapes):
    result = _verify(exported, Altered(exported.model, lambda x: x), data_root=cityscapes, images=2)
    assert result.passed and len(result.images) == 2
    assert result.overall.max_abs == 0 and result.overall.agreement == 1
    assert result.metrics.d_mIoU == 0 and result.metrics.d_aAcc == 0
    assert not np.isnan(result.metrics.reference.mIoU)
    saved = json.loads(json.dumps(result.to_json()))  # every field is JSON
    assert saved["metrics"]["d_class_iou"]["road"] in (0.0, None) and saved["bisect"] is None


def test_nan_logits_fail_even_though_argmax_barely_changes(exported, cityscapes):
    """One NaN moves one pixel's argmax (agreement 99.99 %): the non-finite check is what fails it."""
    def one_nan(x):
        x = x.copy()
        x[0, 0, 0, 0] = np.nan
        return x

    result = _verify(exported, Altered(exported.model, one_nan), data_root=cityscapes, images=2,
                     criteria=Criteria(atol=None, rtol=None, min_agreement=None, max_drop=None))
    assert not result.passed
    assert any("non-finite" in f for f in result.failures)
    assert result.overall.nonfinite == 2 and result.overall.agreement > 0.999 and result.metrics is None
    assert result.bisect is None and "no ONNX file" in result.bisect_note  # due on failure, but no file


def test_a_wrong_class_fails_logits_agreement_and_mIoU_but_passes_with_those_criteria_off(exported, cityscapes):
    def always_bicycle(x):  # a class the synthetic scenes do not have: every pixel becomes wrong
        x = x.copy()
        x[:, SPEC.classes.index("bicycle")] += 2 * np.abs(x).max()
        return x

    engine = Altered(exported.model, always_bicycle)
    strict = _verify(exported, engine, data_root=cityscapes, images=3, bisect="never")
    assert not strict.passed and strict.metrics.d_mIoU < 0
    assert {f.split()[0] for f in strict.failures} >= {"logits", "argmax", "mIoU"}
    lenient = _verify(exported, engine, data_root=cityscapes, images=3,
                      criteria=Criteria(atol=None, rtol=None, min_agreement=0.0, max_drop=100.0))
    assert lenient.passed and lenient.metrics.d_mIoU == strict.metrics.d_mIoU


def test_tolerances_are_atol_plus_rtol_times_the_reference(exported):
    shifted = Altered(exported.model, lambda x: x + 1e-3)
    assert not _verify(exported, shifted, images=1, criteria=Criteria(atol=5e-4, rtol=0.0)).passed
    assert _verify(exported, shifted, images=1, criteria=Criteria(atol=1.1e-3, rtol=0.0)).passed


def test_an_engine_that_raises_is_a_failure_not_a_crash(exported):
    def broken(_x):
        raise RuntimeError("kernel exploded\nsecond line")

    result = _verify(exported, Altered(exported.model, broken, name="broken"), images=2)
    assert not result.passed and result.failures[0] == "broken failed on random 0: kernel exploded second line"
    assert result.images == () and result.overall is None


def test_random_inputs_cycle_through_sizes_with_the_batch(exported):
    result = _verify(exported, Altered(exported.model, lambda x: x), images=3, batch=2,
                     random_sizes=((64, 128), (96, 64)))
    assert [i.input_shapes for i in result.images] == [((2, 3, 64, 128),), ((2, 3, 96, 64),), ((2, 3, 64, 128),)]


def test_onnx_runtime_on_the_file_passes_and_the_static_size_is_enforced(exported, cityscapes, tmp_path):
    engine = OnnxRuntimeBackend(exported.onnx)
    result = _verify(exported, engine, exported.program, data_root=cityscapes, images=2, onnx=exported.onnx,
                     bisect="always")
    assert result.passed and result.metrics.d_mIoU == 0
    assert result.bisect is not None and result.bisect.first_failure is None  # --bisect on a passing run
    with pytest.raises(Exception, match="export again with --input-size 96x64 or --dynamic-hw"):
        _verify(exported, engine, random_sizes=((96, 64),), images=1)
    assert HW == engine.fixed_hw


def test_windows_of_a_sliding_window_model_are_verified_and_merged_per_image(tiny_model, cityscapes):
    """Segmenter's variant cuts each image into 768 windows: one row per image, every window compared,
    metrics on the merged class maps."""
    spec = MODELS["segmenter_vitl16_mask_cityscapes"]
    model = tiny_model(spec)
    result = verify_engine(spec, model, Altered(model, lambda x: x), VerifyConfig(data_root=cityscapes, images=1,
                                                                                   show_progress=False))
    (image,) = result.images
    windows = geometry_for(spec, spec.variants[0], HW).input_hws  # 64x128 upscaled to 768x1536: 3 windows
    assert image.input_shapes == tuple((1, 3, *hw) for hw in windows) and len(windows) == 3
    assert result.passed and result.metrics.d_mIoU == 0


def test_a_folded_engine_is_refused_with_what_it_takes(exported):
    class Folded(Altered):
        io = EngineIO(pixels=True, class_map=True)

    with pytest.raises(SegdeployError, match="takes uint8 NHWC RGB pixels -> int32 class maps: verify compares"):
        _verify(exported, Folded(exported.model, lambda x: x), images=1)
