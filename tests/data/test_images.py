"""read_rgb / read_label on the awkward files real data sets contain, built on disk here."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segdeploy.data.images import read_label, read_rgb, save_label_png, save_palette_png
from segdeploy.errors import SegdeployError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)


def test_rgb_png_round_trips(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.png")
    out = read_rgb(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (6, 9, 3)
    np.testing.assert_array_equal(out, RGB)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = RGB[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = read_rgb(tmp_path / "g.png")
    np.testing.assert_array_equal(out, np.stack([gray] * 3, axis=2))


def test_rgba_drops_alpha_without_compositing(tmp_path):
    rgba = np.concatenate([RGB, np.zeros((6, 9, 1), np.uint8)], axis=2)  # fully transparent
    Image.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png"), RGB)


def test_palette_image_gives_palette_colours(tmp_path):
    img = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.save(tmp_path / "p.png")
    out = read_rgb(tmp_path / "p.png")
    assert out[0, 0].tolist() == [10, 20, 30] and out[0, 1].tolist() == [200, 100, 50]


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 32896, 65535]], np.uint16)).save(tmp_path / "d.png")
    out = read_rgb(tmp_path / "d.png")
    assert out[0, :, 0].tolist() == [0, 128, 255]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)  # pure red
    out = read_rgb(tmp_path / "c.jpg")
    assert out.shape == (8, 8, 3)
    assert out[4, 4, 0] > 200 and out[4, 4, 1] < 50 and out[4, 4, 2] < 50


def test_exif_orientation_is_not_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(np.zeros((4, 10, 3), np.uint8)).save(tmp_path / "r.jpg", exif=exif)
    assert read_rgb(tmp_path / "r.jpg").shape == (4, 10, 3)  # raw pixel layout, like its mask


def test_truncated_png_is_one_error_naming_the_file(tmp_path):
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(SegdeployError, match="t.png: cannot decode"):
        read_rgb(tmp_path / "t.png")


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(SegdeployError, match="nope.png: no such file"):
        read_rgb(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(SegdeployError, match="junk.png"):
        read_label(tmp_path / "junk.png")


def test_palette_label_reads_indices_not_colours(tmp_path):
    classes = np.array([[0, 15, 255], [1, 2, 20]], np.uint8)
    save_palette_png(tmp_path / "l.png", classes, [(0, 0, 0), (128, 0, 0), (0, 128, 0)])
    assert Image.open(tmp_path / "l.png").mode == "P"
    np.testing.assert_array_equal(read_label(tmp_path / "l.png"), classes)


def test_grayscale_label_and_save_label_png(tmp_path):
    classes = np.array([[0, 7], [33, 255]], np.int64)
    save_label_png(tmp_path / "l.png", classes)
    out = read_label(tmp_path / "l.png")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, classes)


def test_rgb_label_is_rejected(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "colour.png")
    with pytest.raises(SegdeployError, match=r"colour.png: label is a colour image \(mode RGB\)"):
        read_label(tmp_path / "colour.png")


def test_out_of_range_class_map_is_rejected(tmp_path):
    with pytest.raises(SegdeployError, match="do not fit an 8-bit PNG"):
        save_label_png(tmp_path / "x.png", np.array([[0, 300]]))
    assert not (tmp_path / "x.png").exists()
