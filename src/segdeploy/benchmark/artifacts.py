"""The files the ONNX and OpenVINO engines run, made once per (model, weights, input size, settings) and
cached in a work folder.

The ladder is a chain, each step applied to the previous file, so the accuracy gate shows what each
step cost: exported fp32 ONNX -> onnxslim-simplified -> static int8 QDQ (calibrated on real images)
-> accuracy-aware int8 (sensitive nodes back in float); a transformer's int8 files start from the fused
file instead (see `prepare_files`). Beside it: the "fused" file, exported at
ONNX opset 23 where scaled-dot-product attention is one `Attention` op (one kernel in ONNX Runtime
and OpenVINO instead of MatMul-Softmax-MatMul with the T x T scores in memory), simplified; and
OpenVINO's own int8 (NNCF on the fp32 file, same calibration images).
A file's name carries a digest of the settings it was made with, so other settings never reuse it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from segdeploy.data.datasets import list_samples
from segdeploy.data.images import read_rgb
from segdeploy.data.synthetic import generate_cityscapes_like
from segdeploy.data.transforms import normalize, resize_image
from segdeploy.export.accuracy_aware import AccuracyAwareConfig, quantize_accuracy_aware
from segdeploy.export.onnx_export import ATTENTION_OPSET, export_onnx, simplify_onnx
from segdeploy.export.openvino_quantize import quantize_openvino_int8
from segdeploy.export.quantize import Int8Settings, is_transformer_file, quantize_int8
from segdeploy.export.tensorrt_calibration import TABLE_NAME, write_tensorrt_calibration
from segdeploy.models.spec import ModelSpec
from segdeploy.reporting.fingerprint import file_sha256

FILE_KINDS = ("fp32", "slim", "fused", "int8", "int8_aware", "ov_int8", "trt_table")
# what each file is made from (the files it needs first)
_NEEDS = {"slim": {"fp32"}, "int8": {"slim"}, "int8_aware": {"slim"}, "ov_int8": {"fp32"}, "trt_table": {"fp32"}}


@dataclass(frozen=True)
class EngineFiles:
    fp32: Path | None = None
    slim: Path | None = None
    fused: Path | None = None
    int8: Path | None = None
    int8_aware: Path | None = None
    ov_int8: Path | None = None  # an OpenVINO IR (.xml + .bin)
    trt_table: Path | None = None  # TensorRT int8 calibration table of the fp32 file
    ort_cache: Path | None = None  # folder for ONNX Runtime's optimised-graph files
    trt_cache: Path | None = None  # folder for TensorRT's engines
    fallback_report: Path | None = None  # the int8-aware file's fallback steps (JSON)


@dataclass(frozen=True)
class FileRecipe:
    """What the derived files are made from besides the network: images and settings."""

    calibration: Callable[[], list[np.ndarray]]  # (1, 3, H, W) batches, loaded only when a file is made
    calibration_key: str  # names those images (source, split, count)
    method: str = "minmax"
    validation: Callable[[], tuple[np.ndarray, list[np.ndarray]]] | None = None  # labelled, for int8-aware
    validation_key: str = ""
    max_drop: float = 0.5
    spec: ModelSpec | None = None  # scores the int8-aware steps


def weights_tag(spec: ModelSpec, checkpoint: Path | None, onnx: Path | None, hw: tuple[int, int]) -> str:
    """A file-name stem naming what the files were made from, so a changed checkpoint is never reused."""
    if onnx is not None:
        source = f"{Path(onnx).stem}-{file_sha256(onnx)[:10]}"
    elif checkpoint is not None:
        source = f"{Path(checkpoint).stem}-{file_sha256(checkpoint)[:10]}"
    else:
        source = "seed0"  # random weights drawn under a fixed seed: the same on every run
    return f"{spec.name}_{hw[0]}x{hw[1]}_{source}"


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:8]


def files_with_prerequisites(need: set[str]) -> set[str]:
    out = set(need)
    while True:
        more = set().union(*(_NEEDS.get(kind, set()) for kind in out)) - out
        if not more:
            return out
        out |= more


def prepare_files(model: Callable[[], nn.Module], hw: tuple[int, int], work_dir: Path, tag: str,
                  need: set[str], recipe: FileRecipe, onnx: Path | None = None,
                  log: Callable[[str], None] = print) -> EngineFiles:
    """Make the files among `need` (FILE_KINDS) and their prerequisites that are not in `work_dir` yet.

    `model()` builds the network (only called when an export is needed); `onnx` replaces the export
    with a given fp32 file.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    need = files_with_prerequisites(need)
    recipe = dataclasses.replace(recipe, calibration=functools.cache(recipe.calibration))  # one load for all
    calib = _digest(recipe.calibration_key, recipe.method)
    paths = {
        "fp32": Path(onnx) if onnx is not None else work_dir / f"{tag}_fp32.onnx",
        "slim": work_dir / f"{tag}_slim.onnx",
        "fused": work_dir / f"{tag}_fused.onnx",
        "int8": work_dir / f"{tag}_int8_{recipe.method}_{calib}.onnx",
        "int8_aware": work_dir / f"{tag}_int8aware_{_digest(calib, recipe.validation_key, recipe.max_drop)}.onnx",
        "ov_int8": work_dir / f"{tag}_ov-int8_{_digest(recipe.calibration_key)}.xml",
        "trt_table": work_dir / f"{tag}_trt_calibration_{_digest(recipe.calibration_key)}" / TABLE_NAME,
    }
    made = {kind: paths[kind] for kind in FILE_KINDS if kind in need}
    for kind, path in list(made.items()):  # FILE_KINDS order: prerequisites first
        if path.is_file():
            continue
        if kind == "fp32":
            log(f"exporting {path.name}")
            export_onnx(model(), path, (1, 3, *hw), dynamic_batch=True)
        elif kind == "slim":
            log(f"simplifying with onnxslim -> {path.name}")
            simplify_onnx(made["fp32"], path)
        elif kind == "fused":
            _export_fused(model, path, hw, log)
        elif kind in ("int8", "int8_aware"):
            source = made["slim"]
            if onnx is None and is_transformer_file(source):
                # ONNX Runtime's calibrator holds every MatMul tensor of an image, the T x T attention
                # scores included (Segmenter-L at 768²: ~1.4 GB per layer, over 24 GB in all): quantise
                # the file whose attention is one op, so the scores are never a graph tensor.
                if not paths["fused"].is_file():
                    _export_fused(model, paths["fused"], hw, log)
                made["fused"] = source = paths["fused"]
            if kind == "int8":
                batches = recipe.calibration()
                log(f"int8 static quantisation (QDQ, per-channel, {recipe.method}) of {source.name}, calibrated "
                    f"on {len(batches)} images -> {path.name}")
                quantize_int8(source, path, batches, Int8Settings(recipe.method))
            else:
                _make_int8_aware(source, path, recipe, log)
        elif kind == "ov_int8":
            batches = recipe.calibration()
            log(f"OpenVINO int8 (NNCF post-training quantisation) calibrated on {len(batches)} images -> {path.name}")
            quantize_openvino_int8(made["fp32"], path, batches)
        elif kind == "trt_table":
            batches = recipe.calibration()
            log(f"TensorRT int8 calibration table (min/max) of {len(batches)} images -> {path}")
            write_tensorrt_calibration(made["fp32"], path.parent, batches)
    report = made["int8_aware"].with_suffix(".fallback.json") if "int8_aware" in made else None
    return EngineFiles(**made, ort_cache=work_dir / "ort_optimized", trt_cache=work_dir / "tensorrt_engines",
                       fallback_report=report)


def _export_fused(model: Callable[[], nn.Module], path: Path, hw: tuple[int, int], log: Callable[[str], None]) -> None:
    log(f"exporting at opset {ATTENTION_OPSET} (one Attention op per attention) and simplifying -> {path.name}")
    export_onnx(model(), path, (1, 3, *hw), dynamic_batch=True, opset=ATTENTION_OPSET)
    simplify_onnx(path, path)


def _make_int8_aware(source: Path, out: Path, recipe: FileRecipe, log: Callable[[str], None]) -> None:
    if recipe.validation is None or recipe.spec is None:
        raise ValueError("the int8-aware file needs labelled validation images")  # callers check first
    images, labels = recipe.validation()
    log(f"accuracy-aware int8 ({recipe.method}, Δ mIoU budget {recipe.max_drop:g} on {len(images)} images) "
        f"-> {out.name}")
    config = AccuracyAwareConfig(source, out, max_drop=recipe.max_drop, calibration=recipe.method)
    quantize_accuracy_aware(recipe.spec, config, recipe.calibration(), images, labels, log=log)


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
