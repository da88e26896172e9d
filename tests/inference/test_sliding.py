"""Sliding-window split/merge against the reference's anchor rule and an independent loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segdeploy.inference.sliding import merge_windows, split_windows, upscaled_size, window_anchors
from segdeploy.models.segmenter import SEGMENTER_VITL16_MASK_CITYSCAPES as SEGMENTER


@pytest.mark.parametrize(
    "stride, ys, xs", [(512, [0, 256], [0, 512, 1024, 1280]), (736, [0, 256], [0, 736, 1280])]
)
def test_cityscapes_anchors(stride, ys, xs):
    assert window_anchors(1024, 768, stride) == ys
    assert window_anchors(2048, 768, stride) == xs
    windows, layout = split_windows(torch.zeros(1, 3, 1024, 2048), 768, stride)
    assert windows.shape == (len(ys) * len(xs), 3, 768, 768)
    assert layout.anchors[: len(xs)] == tuple((0, x) for x in xs)  # row-major


def test_anchor_edge_cases():
    assert window_anchors(768, 768, 512) == [0]
    assert window_anchors(1280, 768, 512) == [0, 512]  # 512 is not < 512: no duplicate window
    with pytest.raises(ValueError):
        window_anchors(700, 768, 512)


def test_upscale_rule_only_grows_the_short_side():
    assert upscaled_size(1024, 2048, 768) == (1024, 2048)
    assert upscaled_size(512, 1024, 768) == (768, 1536)
    assert upscaled_size(1000, 375, 768) == (int(1000 / 375 * 768), 768)


def test_merge_of_constant_logits_is_the_constant():
    _, layout = split_windows(torch.zeros(1, 3, 100, 150), 64, 40)
    logits = torch.full((len(layout.anchors), 5, 64, 64), 2.5)
    merged = merge_windows(logits, layout, (100, 150))
    assert merged.shape == (5, 100, 150)
    torch.testing.assert_close(merged, torch.full((5, 100, 150), 2.5))


def test_split_then_merge_with_identity_model_reproduces_the_image():
    image = np.random.default_rng(0).standard_normal((1, 3, 100, 150)).astype(np.float32)
    windows, layout = split_windows(image[0], 64, 40)  # a (3, H, W) image works too
    assert isinstance(windows, np.ndarray)
    merged = merge_windows(windows, layout)
    np.testing.assert_allclose(merged, image[0], rtol=0, atol=1e-6)


def test_small_image_is_upscaled_and_merged_back_to_its_size():
    windows, layout = split_windows(torch.randn(1, 3, 40, 90), 64, 48)
    assert layout.canvas == (64, 144) and windows.shape == (3, 3, 64, 64)  # x anchors 0, 48, 80
    assert merge_windows(torch.randn(3, 4, 64, 64), layout).shape == (4, 40, 90)  # default: input size
    assert merge_windows(torch.randn(3, 4, 64, 64), layout, (20, 45)).shape == (4, 20, 45)


def test_slide_inference_of_tiny_segmenter_matches_a_direct_loop():
    torch.manual_seed(0)
    model = SEGMENTER.build(**SEGMENTER.tiny).eval()
    image = torch.randn(1, 3, 96, 160)
    ws, st = 64, 48
    with torch.no_grad():
        windows, layout = split_windows(image, ws, st)
        logits = torch.cat([model(windows[i : i + 4]) for i in range(0, len(windows), 4)])
        merged = merge_windows(logits, layout, (96, 160))
        # Independent reference: hand-derived anchors, one window at a time.
        total, count = torch.zeros(19, 96, 160), torch.zeros(1, 96, 160)
        for top in (0, 32):
            for left in (0, 48, 96):
                crop = image[:, :, top : top + ws, left : left + ws]
                total[:, top : top + ws, left : left + ws] += model(crop)[0]
                count[:, top : top + ws, left : left + ws] += 1
    assert len(layout.anchors) == 6
    torch.testing.assert_close(merged, total / count, rtol=1e-5, atol=1e-5)
