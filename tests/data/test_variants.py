"""Preprocessing variants: their geometry, and the windows variant end to end at library level."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.transforms import letterbox_box
from segdeploy.data.variants import (
    geometry_for,
    get_variant,
    input_labels,
    input_stems,
    make_inputs,
    to_class_map,
)
from segdeploy.errors import SegdeployError
from segdeploy.evaluation.evaluate import evaluate_folder
from segdeploy.inference.inputs import items_from_bins, items_from_dataset
from segdeploy.inference.predict import predict_logits
from segdeploy.inference.runner import InferConfig, run_inference
from segdeploy.models import MODELS
from segdeploy.models.spec import SlideWindow
from segdeploy.runtime.torch_backend import TorchBackend

FCN = MODELS["fcn_r50_d8_voc"]
SEGMENTER = MODELS["segmenter_vitl16_mask_cityscapes"]


def test_default_and_unknown_variants():
    assert get_variant(FCN, None).name == "guide-letterbox"
    assert get_variant(MODELS["fastscnn_cityscapes"], None).name == "whole"
    with pytest.raises(SegdeployError, match="--variant: fcn_r50_d8_voc has no variant 'x'; choose one of: "
                                             "guide-letterbox, mmseg-resize"):
        get_variant(FCN, "x")


@pytest.mark.parametrize("image_hw, resized", [((375, 500), (512, 683)), ((500, 333), (769, 512)),
                                               ((500, 500), (512, 512))])
def test_mmseg_resize_sizes_from_the_spec(image_hw, resized):
    geometry = geometry_for(FCN, get_variant(FCN, "mmseg-resize"), image_hw)
    assert geometry.resized_hw == resized and geometry.input_hws == (resized,)


@pytest.mark.parametrize("image_hw", [(375, 500), (500, 333), (281, 500)])
def test_letterbox_geometry_is_the_transforms_box(image_hw):
    geometry = geometry_for(FCN, get_variant(FCN, "guide-letterbox"), image_hw)
    box = letterbox_box(image_hw, 500)
    assert geometry.input_hws == ((500, 500),) and geometry.resized_hw == box.resized_hw
    assert geometry.pad_top_left == (box.pad_top, box.pad_left)


def test_segmenter_windows_on_a_cityscapes_frame():
    geometry = geometry_for(SEGMENTER, get_variant(SEGMENTER, None), (1024, 2048))
    assert geometry.anchors == ((0, 0), (0, 512), (0, 1024), (0, 1280), (256, 0), (256, 512), (256, 1024),
                                (256, 1280))
    assert input_stems("a_leftImg8bit", geometry)[-1] == "a_leftImg8bit_7"
    small = geometry_for(SEGMENTER, get_variant(SEGMENTER, None), (512, 1024))  # upscaled: short side -> 768
    assert small.resized_hw == (768, 1536) and len(small.anchors) == 3


def test_input_labels_follow_each_variant_s_pixels():
    """A label whose value is its pixel's column lands where make_inputs puts that pixel."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)
    label = np.broadcast_to(np.arange(500) % 250, (375, 500)).astype(np.uint8)
    (box,), letterbox = make_inputs(FCN, get_variant(FCN, "guide-letterbox"), image)
    (canvas,) = input_labels(letterbox, label)
    top, left = letterbox.pad_top_left
    h, w = letterbox.resized_hw
    assert canvas.shape == box.shape[1:] and (canvas[:top] == 255).all() and (canvas[top + h:] == 255).all()
    inside = canvas[top:top + h, left:left + w]
    assert (inside[:, 0] == 0).all() and (inside[:, -1] == 249).all()
    (resized,), keep = make_inputs(FCN, get_variant(FCN, "mmseg-resize"), image)
    (scaled,) = input_labels(keep, label)
    assert scaled.shape == resized.shape[1:] == keep.resized_hw and set(np.unique(scaled)) <= set(np.unique(label))
    slide = dataclasses.replace(SEGMENTER, slide=SlideWindow(window=96, stride=64))
    frame = rng.integers(0, 255, (128, 256, 3), dtype=np.uint8)
    windows, geometry = make_inputs(slide, slide.variants[0], frame)
    columns = np.broadcast_to(np.arange(256), (128, 256)).astype(np.uint8)
    cut = input_labels(geometry, columns)
    assert len(cut) == len(windows) == len(geometry.anchors) > 1
    for (top, left), window, piece in zip(geometry.anchors, windows, cut):
        assert piece.shape == window.shape[1:] and (piece[0] == np.arange(left, left + 96)).all()


def test_logit_variants_refuse_class_maps():
    geometry = geometry_for(FCN, get_variant(FCN, "mmseg-resize"), (75, 100))
    with pytest.raises(SegdeployError, match="p_0.bin: variant mmseg-resize post-processes logits"):
        to_class_map(FCN, geometry, [np.zeros((512, 683), np.int64)], "p_0.bin")


def test_windows_through_bins_and_ais_bench_fp16_logits_match_the_sliding_predictor(tmp_path):
    """The Segmenter guide's chain at toy size: one .bin per window, per-window logits back, averaged."""
    from segdeploy.data.preprocess import preprocess_dataset

    spec = dataclasses.replace(SEGMENTER, slide=SlideWindow(window=32, stride=24))
    generate_cityscapes_like(tmp_path / "cs", "val", 2, size=(40, 80), seed=2)
    torch.manual_seed(0)
    backend = TorchBackend(spec.build(**{**spec.tiny, "image_size": 32}))
    result = preprocess_dataset(spec, tmp_path / "cs", "val", tmp_path / "bins", show_progress=False)
    stem = "synthtown_000000_000000_leftImg8bit"
    # 40x80 -> anchors y 0, 8; x 0, 24, 48: six 32x32 windows per image
    assert sorted(p.name for p in (tmp_path / "bins").iterdir())[:6] == [f"{stem}_{k}.bin" for k in range(6)]
    assert result.info_path.read_text().splitlines()[0].endswith(f"{stem}_0.bin 32 32")
    items = items_from_bins(tmp_path / "bins", default_hw=(32, 32))
    device = run_inference(spec, backend, items, InferConfig(tmp_path / "out", batch=4, keep_logits=True,
                                                             run_name="device"), show_progress=False)
    for path in device.run_dir.iterdir():  # what an fp16 OM model writes
        np.fromfile(path, np.float32).astype(np.float16).tofile(path)
    local = run_inference(spec, backend, items_from_dataset(spec, tmp_path / "cs", "val"),
                          InferConfig(tmp_path / "out", batch=4, run_name="local"), show_progress=False)
    scores = {name: evaluate_folder(spec, tmp_path / "out" / name, tmp_path / "cs", show_progress=False)
              for name in ("device", "local")}
    from segdeploy.data.images import read_rgb
    from segdeploy.data.transforms import normalize

    image = normalize(read_rgb(tmp_path / "cs" / "leftImg8bit" / "val" / "synthtown" / f"{stem}.png"),
                      spec.preprocess)
    reference = predict_logits(spec, backend, image[None])[0].argmax(0)  # (H, W)
    local_map = np.fromfile(local.run_dir / f"{stem}_0.bin", np.int32).reshape(40, 80)
    np.testing.assert_array_equal(local_map, reference)
    assert scores["device"].images == scores["local"].images == 2
    assert scores["device"].metrics.aAcc == pytest.approx(scores["local"].metrics.aAcc, abs=0.02)  # fp16 ties
