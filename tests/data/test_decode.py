"""The fast decoders give Pillow's pixels exactly, hand every other kind of file to Pillow, and keep its errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from segdeploy.data.decode import decode_rgb, load_label
from segdeploy.data.images import read_label, read_rgb
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.errors import SegdeployError


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> np.ndarray:
    """A street scene (smooth regions and edges, as JPEG and PNG coders meet in real photos)."""
    root = tmp_path_factory.mktemp("scene")
    (path,) = generate_cityscapes_like(root, "val", 1, size=(96, 160), seed=4)
    return read_rgb(path)


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("options", [
    {"quality": 90}, {"quality": 75, "subsampling": 0}, {"quality": 95, "subsampling": 1},
    {"quality": 80, "progressive": True}, {"quality": 85, "optimize": True, "subsampling": 2},
], ids=["420", "444", "422", "progressive", "optimized"])
def test_jpegs_decode_to_pillows_pixels(scene, options):
    data = _encoded(Image.fromarray(scene), "JPEG", **options)
    np.testing.assert_array_equal(decode_rgb("a.jpg", data), read_rgb("a.jpg", data))


@pytest.mark.parametrize("options", [{"compress_level": 1}, {"compress_level": 9}, {"optimize": True}],
                         ids=["level1", "level9", "optimized"])
def test_rgb_pngs_decode_to_pillows_pixels(scene, options):
    data = _encoded(Image.fromarray(scene), "PNG", **options)
    np.testing.assert_array_equal(decode_rgb("a.png", data), read_rgb("a.png", data))


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16"])
def test_other_modes_go_to_pillow_and_come_out_the_same(scene, mode):
    image = Image.fromarray(scene)
    converted = {"P": lambda: image.convert("P", palette=Image.Palette.ADAPTIVE),
                 "I;16": lambda: Image.fromarray(scene[:, :, 0].astype(np.uint16) * 257)}.get(mode, lambda: image.convert(mode))()
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    data = _encoded(converted, fmt)
    out = decode_rgb("a", data)
    assert out.shape == (*scene.shape[:2], 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, read_rgb("a", data))


def test_grey_jpeg_goes_to_pillow(scene):
    data = _encoded(Image.fromarray(scene[:, :, 1]), "JPEG", quality=90)
    np.testing.assert_array_equal(decode_rgb("g.jpg", data), read_rgb("g.jpg", data))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_truncated_file_is_pillows_one_line_error_naming_it(scene, fmt):
    data = _encoded(Image.fromarray(scene), fmt)[:-400]
    with pytest.raises(SegdeployError, match=r"^broken\.img: cannot decode image"):
        decode_rgb("broken.img", data)


def test_labels_read_the_same_through_libspng_and_pillow(tmp_path):
    labels = np.random.default_rng(0).integers(0, 19, (40, 70)).astype(np.uint8)
    labels[:3] = 255
    grey, palette = tmp_path / "grey.png", tmp_path / "palette.png"
    Image.fromarray(labels, mode="L").save(grey)
    indexed = Image.fromarray(labels, mode="P")
    indexed.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    indexed.save(palette)
    for path in (grey, palette):
        out = load_label(path)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, labels)
        np.testing.assert_array_equal(out, read_label(path))
    with pytest.raises(SegdeployError, match="missing.png: no such file"):
        load_label(tmp_path / "missing.png")
