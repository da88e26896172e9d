"""The files the ONNX engines run, made once per (model, weights, input size) and cached in a work folder.

The ladder is a chain, each step applied to the previous file, so the accuracy gate shows what each
step cost: exported fp32 ONNX -> onnxslim-simplified -> static int8 QDQ (calibrated on real images).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from segdeploy.data.datasets import list_samples
from segdeploy.data.images import read_rgb
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.transforms import normalize, resize_image
from segdeploy.export.onnx_export import export_onnx, simplify_onnx
from segdeploy.export.quantize import quantize_int8
from segdeploy.export.tensorrt_calibration import TABLE_NAME, write_tensorrt_calibration
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.fingerprint import file_sha256


@dataclass(frozen=True)
class EngineFiles:
    fp32: Path | None = None
    slim: Path | None = None
    int8: Path | None = None
    ort_cache: Path | None = None  # folder for ONNX Runtime's optimised-graph files
    trt_table: Path | None = None  # TensorRT int8 calibration table of the fp32 file
    trt_cache: Path | None = None  # folder for TensorRT's engines


def weights_tag(spec: ModelSpec, checkpoint: Path | None, onnx: Path | None, hw: tuple[int, int]) -> str:
    """A file-name stem naming what the files were made from, so a changed checkpoint is never reused."""
    if onnx is not None:
        source = f"{Path(onnx).stem}-{file_sha256(onnx)[:10]}"
    elif checkpoint is not None:
        source = f"{Path(checkpoint).stem}-{file_sha256(checkpoint)[:10]}"
    else:
        source = "seed0"  # random weights drawn under a fixed seed: the same on every run
    return f"{spec.name}_{hw[0]}x{hw[1]}_{source}"


def prepare_files(model: Callable[[], nn.Module], hw: tuple[int, int], work_dir: Path, tag: str,
                  need: set[str], calibration: Callable[[], list[np.ndarray]], onnx: Path | None = None,
                  log: Callable[[str], None] = print) -> EngineFiles:
    """Make the files among `need` ({"fp32", "slim", "int8", "trt_table"}) that are not in `work_dir` yet.

    `model()` builds the network (only called when an export is needed); `onnx` replaces the export
    with a given fp32 file; `calibration()` returns the int8 calibration batches.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    if need & {"slim", "int8"}:
        need = need | {"fp32", "slim"}
    if "trt_table" in need:
        need = need | {"fp32"}
    calibration = functools.cache(calibration)  # the int8 file and the TensorRT table use the same images
    fp32 = slim = int8 = trt_table = None
    if "fp32" in need:
        fp32 = Path(onnx) if onnx is not None else work_dir / f"{tag}_fp32.onnx"
        if not fp32.is_file():
            log(f"exporting {fp32.name}")
            export_onnx(model(), fp32, (1, 3, *hw), dynamic_batch=True)
    if "slim" in need:
        slim = work_dir / f"{tag}_slim.onnx"
        if not slim.is_file():
            log(f"simplifying with onnxslim -> {slim.name}")
            simplify_onnx(fp32, slim)
    if "int8" in need:
        int8 = work_dir / f"{tag}_int8.onnx"
        if not int8.is_file():
            batches = calibration()
            log(f"int8 static quantisation (QDQ, per-channel) calibrated on {len(batches)} images -> {int8.name}")
            quantize_int8(slim, int8, batches)
    if "trt_table" in need:
        trt_table = work_dir / f"{tag}_trt_calibration" / TABLE_NAME
        if not trt_table.is_file():
            batches = calibration()
            log(f"TensorRT int8 calibration table (min/max) of {len(batches)} images -> {trt_table}")
            write_tensorrt_calibration(fp32, trt_table.parent, batches)
    return EngineFiles(fp32, slim, int8, work_dir / "ort_optimized", trt_table, work_dir / "tensorrt_engines")


def calibration_batches(spec: ModelSpec, hw: tuple[int, int], count: int, data_root: Path | None, split: str,
                        synthetic_root: Path) -> list[np.ndarray]:
    """`count` (1, 3, H, W) normalised images: from `data_root` when given, else synthetic street scenes.

    Images of another size are resized to the engine input: calibration only needs the activation
    ranges real content produces, not pixel-exact labels.
    """
    if data_root is None:
        data_root, split = synthetic_root / f"{hw[0]}x{hw[1]}", "calib"
        generate_cityscapes_like(data_root, split, count, size=hw, seed=7)
        samples = list_samples("cityscapes", data_root, split, require_labels=False)
    else:
        samples = list_samples(spec.dataset, data_root, split, require_labels=False)
    batches = []
    for sample in samples[:count]:
        rgb = read_rgb(sample.image_path)
        if rgb.shape[:2] != tuple(hw):
            rgb = resize_image(rgb, hw)
        batches.append(normalize(rgb, spec.preprocess)[None])  # (1, 3, H, W)
    return batches
