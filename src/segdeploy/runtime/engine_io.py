"""What an engine takes and returns: normalised floats or raw pixels in, logits or a class map out.

A plain export takes float32 (N, 3, H, W) normalised images and returns float32 logits (N, C, H, W).
A file made with `segdeploy export --fold-preprocess` takes the pixels, uint8 (N, H, W, 3) in RGB
order, and normalises them itself (and, for the FCN guide's letterbox, pads them onto its square
canvas); one made with `--fold-argmax` returns the int32 class map (N, 1, H, W), as the FCN guide's
deployed model does. The runner reads an engine's `EngineIO` and feeds and post-processes
accordingly, so any engine runs any such file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

# ONNX metadata key of a folded file's canvas side (the graph pads its input centred onto it).
PAD_TO_KEY = "segdeploy.pad_to"


@dataclass(frozen=True)
class EngineIO:
    pixels: bool = False  # input uint8 (N, H, W, 3) RGB pixels; else float32 (N, 3, H, W) normalised
    class_map: bool = False  # output integer class ids (N, 1, H, W); else float logits (N, C, H, W)
    pad_to: int | None = None  # the graph pads its input centred onto a pad_to x pad_to canvas

    def describe(self) -> str:
        given = "uint8 NHWC RGB pixels" if self.pixels else "float32 NCHW normalised images"
        if self.pad_to is not None:
            given += f" (padded onto {self.pad_to}x{self.pad_to} in the graph)"
        return f"{given} -> {'int32 class maps' if self.class_map else 'float32 logits'}"

    def input_hw(self, network_input: np.ndarray) -> tuple[int, int]:
        """(H, W) of one network input of this layout: (3, H, W) or (H, W, 3)."""
        return tuple(network_input.shape[:2]) if self.pixels else tuple(network_input.shape[1:])

    def random_batch(self, batch: int, hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """A batch of random inputs of this layout, for timing loops."""
        if self.pixels:
            return rng.integers(0, 256, (batch, *hw, 3), dtype=np.uint8)
        return rng.standard_normal((batch, 3, *hw), dtype=np.float32)

    def per_sample(self, outputs: np.ndarray) -> list[np.ndarray]:
        """One engine output split per sample: (C, h, w) logits or an (h, w) class map each (views)."""
        return list(outputs[:, 0] if self.class_map and outputs.ndim == 4 else outputs)


FLOAT_LOGITS = EngineIO()


def engine_io(backend: object) -> EngineIO:
    """The backend's declared `io`; engines that declare none take normalised floats and return logits."""
    return getattr(backend, "io", FLOAT_LOGITS)


def io_from_types(input_type: str, output_type: str, metadata: Mapping[str, str]) -> EngineIO:
    """An ONNX file's EngineIO from its first input's and output's element types (ONNX Runtime's
    names, e.g. `tensor(uint8)`) and its metadata: the types say pixels and class maps; only the
    canvas of a letterbox fold needs the metadata."""
    pad_to = metadata.get(PAD_TO_KEY)
    return EngineIO(pixels=input_type == "tensor(uint8)",
                    class_map=output_type in ("tensor(int32)", "tensor(int64)"),
                    pad_to=int(pad_to) if pad_to else None)
