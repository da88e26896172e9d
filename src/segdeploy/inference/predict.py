"""Logits for a batch of images over any engine: whole-image, or sliding windows split and merged here."""

from __future__ import annotations

import numpy as np

from segdeploy.errors import SegdeployError
from segdeploy.inference.sliding import merge_windows, split_windows
from segdeploy.models.spec import ModelSpec
from segdeploy.runtime.backend import Backend, run_batch


def predict_logits(spec: ModelSpec, backend: Backend, images: np.ndarray, window_batch: int = 4) -> np.ndarray:
    """(N, 3, H, W) normalised images -> (N, C, H, W) float32 logits at input resolution."""
    if spec.slide is None:
        check_input_size(spec, backend, images.shape[2:])
        return run_batch(backend, images)
    return np.stack([_slide_one(spec, backend, image, window_batch) for image in images])


def _slide_one(spec: ModelSpec, backend: Backend, image: np.ndarray, window_batch: int) -> np.ndarray:
    """The deployed network sees windows only; splitting and overlap-averaging happen here."""
    assert spec.slide is not None
    windows, layout = split_windows(image, spec.slide.window, spec.slide.stride)  # (K, 3, ws, ws)
    check_input_size(spec, backend, windows.shape[2:])
    logits = np.concatenate([run_batch(backend, windows[i:i + window_batch])
                             for i in range(0, len(windows), window_batch)])  # (K, C, ws, ws)
    return merge_windows(logits, layout)  # (C, H, W)


def check_input_size(spec: ModelSpec, backend: Backend, hw: tuple[int, ...]) -> None:
    """One-line errors for an input the engine was not built for or the network cannot take."""
    hw = tuple(int(v) for v in hw)
    if backend.fixed_hw is not None and tuple(backend.fixed_hw) != hw:
        raise SegdeployError.at(
            f"{backend.name} engine", f"was built for {backend.fixed_hw[0]}x{backend.fixed_hw[1]} inputs, "
            f"got {hw[0]}x{hw[1]}; export again with --input-size {hw[0]}x{hw[1]} or --dynamic-hw")
    if spec.size_divisor > 1 and any(v % spec.size_divisor for v in hw):
        raise SegdeployError.at(f"input {hw[0]}x{hw[1]}",
                                f"{spec.name} needs height and width divisible by {spec.size_divisor}")
