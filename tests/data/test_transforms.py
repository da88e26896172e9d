"""normalize, the OpenCV-style bilinear resize, and the FCN seed's 500x500 letterbox."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segdeploy.data.transforms import (
    Letterbox,
    letterbox,
    normalize,
    resize_bilinear,
    resize_image,
    unletterbox_class_map,
)
from segdeploy.models.spec import Preprocess

IMAGENET = Preprocess(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))


def test_normalize_numbers_layout_and_dtype():
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 255, 0, 100
    out = normalize(image, IMAGENET)
    assert out.shape == (3, 2, 3) and out.dtype == np.float32 and out.flags.c_contiguous
    expected = [(255 - 123.675) / 58.395, -116.28 / 57.12, (100 - 103.53) / 57.375]
    np.testing.assert_allclose(out[:, 0, 0], expected, rtol=1e-6)


def test_normalize_rejects_non_rgb():
    with pytest.raises(ValueError, match="expected an"):
        normalize(np.zeros((4, 4), np.uint8), IMAGENET)


def test_bilinear_uses_half_pixel_centres():
    row = np.array([[0.0, 10.0]], np.float32)
    np.testing.assert_allclose(resize_bilinear(row, (1, 4)), [[0.0, 2.5, 7.5, 10.0]])
    np.testing.assert_allclose(resize_bilinear(np.arange(4, dtype=np.float32)[None], (1, 2)), [[0.5, 2.5]])
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_image(image, (5, 7)), image)
    assert resize_image(image, (10, 3)).shape == (10, 3, 3)


@pytest.mark.parametrize(("h", "w", "resized", "top", "left"), [
    (375, 500, (375, 500), 62, 0),
    (500, 333, (500, 333), 0, 83),
    (333, 500, (333, 500), 83, 0),
    (200, 100, (500, 250), 0, 125),
])
def test_letterbox_geometry(h, w, resized, top, left):
    image = np.full((h, w, 3), 200, np.uint8)
    chw, box = letterbox(image, IMAGENET)
    assert chw.shape == (3, 500, 500) and chw.dtype == np.float32
    assert box == Letterbox((h, w), resized, 500, top, left)
    inside = chw[:, top:top + resized[0], left:left + resized[1]]
    np.testing.assert_allclose(inside[0], (200 - 123.675) / 58.395, rtol=1e-6)
    assert np.count_nonzero(chw[0]) == resized[0] * resized[1]  # the pad is 0 after normalising


def test_unletterbox_keeps_one_pad_row_when_the_pad_is_odd():
    box = Letterbox((375, 500), (375, 500), 500, 62, 0)  # pad 125: 62 above, 63 below
    class_map = np.full((500, 500), 9, np.int64)
    class_map[62:437] = 3
    out = unletterbox_class_map(class_map, box)
    assert out.shape == (375, 500) and out.dtype == np.int64
    # int(125 / 2) = 62 cropped from both sides: 376 rows (one pad row) squeezed into 375.
    assert (out[:-1] == 3).all()
    assert 3 < out[-1, 0] < 9  # truncated bilinear mix of the classes: the seed's border artefact


def test_unletterbox_round_trips_when_pads_are_even():
    box = letterbox(np.zeros((334, 500, 3), np.uint8), IMAGENET)[1]
    assert box.pad_top == 83
    labels = np.random.default_rng(1).integers(0, 21, (334, 500))
    canvas = np.zeros((500, 500), np.int64)
    canvas[83:83 + 334] = labels
    np.testing.assert_array_equal(unletterbox_class_map(canvas, box), labels)


def test_normalize_bgr_flips_channels_after_normalising():
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 20, 30  # R, G, B
    rgb = normalize(image, Preprocess(mean=(1.0, 2.0, 3.0), std=(1.0, 1.0, 1.0)))
    bgr = normalize(image, Preprocess(mean=(1.0, 2.0, 3.0), std=(1.0, 1.0, 1.0), bgr=True))
    assert rgb[:, 0, 0].tolist() == [9.0, 18.0, 27.0]
    assert bgr[:, 0, 0].tolist() == [27.0, 18.0, 9.0]
    assert bgr.flags.c_contiguous


@pytest.mark.parametrize(("shape", "size"), [
    ((375, 500, 3), (500, 666)),  # up, a non-integer ratio (VOC 500x375 -> letterbox / keep-ratio sizes)
    ((500, 333, 3), (512, 341)),
    ((1024, 2048, 3), (500, 1000)),  # down by about 2
    ((7, 5, 3), (3, 11)),  # down one axis, up the other
    ((9, 13, 1), (4, 6)),  # one channel keeps its axis
])
def test_resize_image_is_mmcv_imresize_that_is_opencv_inter_linear(shape, size):
    """mmcv.imresize(img, (w, h)) is cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)."""
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    reference = cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR).reshape(*size, shape[2])
    out = resize_image(image, size)
    assert out.dtype == np.uint8 and out.shape == (*size, shape[2])
    np.testing.assert_array_equal(out, reference)
    # the float imitation it replaces is off by one where OpenCV's fixed-point weights round differently
    imitation = np.clip(np.rint(resize_bilinear(image, size)), 0, 255).astype(np.int16)
    assert np.abs(imitation - out).max() <= 1
