"""Vendor-chain files: raw inputs, .info lists, and ais_bench output folders."""

from __future__ import annotations

import numpy as np
import pytest

from segdeploy.data.binio import (
    InfoEntry,
    find_predictions,
    list_input_bins,
    natural_sort_key,
    output_name,
    read_info,
    read_input_bin,
    read_prediction,
    write_info,
    write_input_bin,
    write_prediction,
)
from segdeploy.data.images import read_label
from segdeploy.errors import SegdeployError

H, W, C = 4, 6, 19
RNG = np.random.default_rng(0)
CLASSES = RNG.integers(0, C, (H, W))


def test_input_bin_round_trip_and_size_check(tmp_path):
    chw = RNG.standard_normal((3, H, W)).astype(np.float32)
    path = write_input_bin(tmp_path / "x.bin", chw)
    assert path.stat().st_size == 3 * H * W * 4
    np.testing.assert_array_equal(read_input_bin(path, (3, H, W)), chw[None])
    (tmp_path / "bad.bin").write_bytes(b"\0" * 12)
    expected = r"bad.bin: 12 bytes, expected 3x256x512 float32 = 1,572,864 bytes"
    with pytest.raises(SegdeployError, match=expected):
        read_input_bin(tmp_path / "bad.bin", (3, 256, 512))


def test_info_round_trip_and_malformed_line(tmp_path):
    entries = [InfoEntry(0, "./voc12_bin/2007_000033.bin", 500, 500), InfoEntry(1, "./b.bin", 500, 500)]
    write_info(tmp_path / "a.info", entries)
    assert (tmp_path / "a.info").read_text().splitlines()[0] == "0 ./voc12_bin/2007_000033.bin 500 500"
    assert read_info(tmp_path / "a.info") == entries
    (tmp_path / "b.info").write_text("0 a.bin 500 500\n1 b.bin 500\n")
    with pytest.raises(SegdeployError, match=r"b.info:2: expected 'index path width height'"):
        read_info(tmp_path / "b.info")


def test_natural_sort_and_input_listing(tmp_path):
    assert sorted(["img10", "IMG2", "img1"], key=natural_sort_key) == ["img1", "IMG2", "img10"]
    for name in ("a10.bin", "a2.BIN", "a1.bin", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_input_bins(tmp_path)] == ["a1.bin", "a2.BIN", "a10.bin"]
    with pytest.raises(SegdeployError, match="no .bin input files"):
        list_input_bins(_empty(tmp_path))
    with pytest.raises(SegdeployError, match="missing: no such folder"):
        list_input_bins(tmp_path / "missing")


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def test_output_name_follows_ais_bench():
    assert output_name("frankfurt_000000_000294_leftImg8bit") == "frankfurt_000000_000294_leftImg8bit_0.bin"
    assert output_name("2007_000033", 1, "npy") == "2007_000033_1.npy"


def test_find_predictions_in_run_folders_and_legacy_names(tmp_path):
    run = tmp_path / "out" / "2026_11_21-10_00_00"
    run.mkdir(parents=True)
    (run / "2007_000033_0.bin").write_bytes(b"")
    (run / "2007_000033_1.bin").write_bytes(b"")  # a second model output, not a prediction
    (run / "2007_000042_0.npy").write_bytes(b"")
    (tmp_path / "out" / "2026_11_21-10_00_00_summary.json").write_text("{}")
    found = find_predictions(tmp_path / "out")
    assert {k: v.name for k, v in found.items()} == {"2007_000033": "2007_000033_0.bin",
                                                     "2007_000042": "2007_000042_0.npy"}
    legacy = tmp_path / "result" / "dumpOutput_device0"
    legacy.mkdir(parents=True)
    (legacy / "frankfurt_000000_000294_leftImg8bit_1.bin").write_bytes(b"")
    assert list(find_predictions(tmp_path / "result")) == ["frankfurt_000000_000294_leftImg8bit"]


def test_find_predictions_errors(tmp_path):
    with pytest.raises(SegdeployError, match="no ais_bench predictions"):
        find_predictions(_empty(tmp_path))
    for run in ("run1", "run2"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "a_0.bin").write_bytes(b"")
    with pytest.raises(SegdeployError, match="duplicate prediction for a"):
        find_predictions(tmp_path)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float16", "float32"])
def test_class_map_bins_of_every_dtype(tmp_path, dtype):
    write_prediction(tmp_path / "p_0.bin", CLASSES.astype(dtype)[None, None])  # (1, 1, H, W)
    out = read_prediction(tmp_path / "p_0.bin", (H, W), C)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, CLASSES)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_logit_bins_are_argmaxed(tmp_path, dtype):
    logits = RNG.standard_normal((1, C, H, W)).astype(dtype)
    write_prediction(tmp_path / "p_0.bin", logits)
    np.testing.assert_array_equal(read_prediction(tmp_path / "p_0.bin", (H, W), C), logits[0].argmax(0))


def test_npy_and_txt_predictions(tmp_path):
    write_prediction(tmp_path / "p_0.npy", CLASSES.astype(np.int64)[None], "npy")
    np.testing.assert_array_equal(read_prediction(tmp_path / "p_0.npy", (H, W)), CLASSES)
    # ais_bench TXT: rows of the last dimension, '%d ' per value, one row per line
    (tmp_path / "p_0.txt").write_text("".join(" ".join(map(str, r)) + " \n" for r in CLASSES))
    np.testing.assert_array_equal(read_prediction(tmp_path / "p_0.txt", (H, W)), CLASSES)
    logits = RNG.standard_normal((C, H, W)).astype(np.float32)
    rows = logits.reshape(-1, W)  # (C*H, W)
    (tmp_path / "q_0.txt").write_text("".join(" ".join(f"{v:f}" for v in r) + " \n" for r in rows))
    np.testing.assert_array_equal(read_prediction(tmp_path / "q_0.txt", (H, W), C), logits.argmax(0))


def test_prediction_of_unknown_size_is_explained(tmp_path):
    (tmp_path / "p_0.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(SegdeployError, match=r"p_0.bin: 1,000 bytes does not match a 256x512 class map "
                                             r"\(int32/int64/float16/float32\) or 19x256x512 logits"):
        read_prediction(tmp_path / "p_0.bin", (256, 512), 19)


def test_logits_the_size_of_an_int32_class_map_are_not_mistaken_for_one(tmp_path):
    scores = RNG.standard_normal((1, 2, H, W)).astype(np.float16)  # same size as an int32 class map
    write_prediction(tmp_path / "p_0.bin", scores)
    np.testing.assert_array_equal(read_prediction(tmp_path / "p_0.bin", (H, W), 2), scores[0].argmax(0))


def test_png_prediction(tmp_path):
    write_prediction(tmp_path / "p.png", CLASSES[None, None], "png")
    np.testing.assert_array_equal(read_label(tmp_path / "p.png"), CLASSES)
