"""Preprocessing variants: how an image becomes network input(s), and how outputs map back to it.

A variant (`ModelSpec.variants`, picked by name with `--variant`) is a pair of functions around
one `Geometry`:

    inputs, geometry = make_inputs(spec, variant, image)      # (3, h, w) float32 network inputs
    class_map = to_class_map(spec, geometry, outputs, where)  # (H, W) integers at label resolution

With `pixels=True` the inputs are what a file exported with `--fold-preprocess` takes: the uint8
pixels before normalisation (`segdeploy.export.fold`), the same geometry.

The geometry is a function of the image size alone, so `evaluate` rebuilds it from the image
file's header (`geometry_for`) and post-processes an ais_bench folder without decoding images;
`preprocess` also records it per sample in its index file.

An output read back may be the raw network output of an input (ais_bench writes those: a class
map or logits at the input's size) or a class map already post-processed to label resolution
(what `segdeploy infer` writes when it runs the whole variant itself). Sizes tell them apart, and
where they coincide the post-process is the identity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from segdeploy.data.cityscapes import IGNORE_INDEX
from segdeploy.data.transforms import (
    Letterbox,
    keep_ratio_size,
    letterbox,
    letterbox_box,
    normalize,
    resize_image,
    unletterbox_class_map,
)
from segdeploy.errors import SegdeployError
from segdeploy.inference.sliding import (
    WindowLayout,
    merge_windows,
    split_windows,
    upscaled_size,
    window_anchors,
)
from segdeploy.models.spec import ModelSpec, Variant


@dataclass(frozen=True)
class Geometry:
    """Where an image's pixels went in the network input(s): enough to map outputs back."""

    variant: str
    kind: str
    image_hw: tuple[int, int]  # (H, W) of the image and its label
    resized_hw: tuple[int, int]  # after the variant's resize (windows: the canvas they are cut from)
    input_hws: tuple[tuple[int, int], ...]  # one (h, w) per network input
    pad_top_left: tuple[int, int] = (0, 0)  # letterbox: where the resized image sits on the canvas
    anchors: tuple[tuple[int, int], ...] = ()  # windows: (top, left) of each input on the canvas

    def to_json(self) -> dict:
        return asdict(self)


def get_variant(spec: ModelSpec, name: str | None) -> Variant:
    """The spec's variant called `name` (None: its default, the first); unknown names list the valid ones."""
    if name is None:
        return spec.variants[0]
    for variant in spec.variants:
        if variant.name == name:
            return variant
    valid = ", ".join(v.name for v in spec.variants)
    raise SegdeployError.at("--variant", f"{spec.name} has no variant {name!r}; choose one of: {valid}")


def geometry_for(spec: ModelSpec, variant: Variant, image_hw: tuple[int, int]) -> Geometry:
    """The geometry `make_inputs` produces for an image of `image_hw`, without the image."""
    image_hw = (int(image_hw[0]), int(image_hw[1]))
    if variant.kind == "whole":
        return Geometry(variant.name, variant.kind, image_hw, image_hw, (image_hw,))
    if variant.kind == "letterbox":
        box = letterbox_box(image_hw, _square(variant))
        canvas = (box.canvas, box.canvas)
        return Geometry(variant.name, variant.kind, image_hw, box.resized_hw, (canvas,), (box.pad_top, box.pad_left))
    if variant.kind == "keep-ratio":
        assert variant.size is not None, "a keep-ratio variant needs size = (long, short)"
        resized = keep_ratio_size(image_hw, variant.size)
        return Geometry(variant.name, variant.kind, image_hw, resized, (resized,))
    if variant.kind == "windows":
        if spec.slide is None:
            raise ValueError(f"{spec.name}: a windows variant needs the spec's `slide`")
        ws, stride = spec.slide.window, spec.slide.stride
        canvas = upscaled_size(*image_hw, ws)
        anchors = tuple((top, left) for top in window_anchors(canvas[0], ws, stride)
                        for left in window_anchors(canvas[1], ws, stride))
        return Geometry(variant.name, variant.kind, image_hw, canvas, ((ws, ws),) * len(anchors), anchors=anchors)
    raise ValueError(f"unknown variant kind {variant.kind!r}")


def default_input_hw(spec: ModelSpec, variant: Variant) -> tuple[int, int] | None:
    """The (H, W) of a preprocessed input when the `.info` file does not say: fixed by the variant
    (letterbox canvas, window), the model's evaluation size for whole images, None for keep-ratio."""
    if variant.kind == "letterbox":
        return _square(variant), _square(variant)
    if variant.kind == "windows" and spec.slide is not None:
        return spec.slide.window, spec.slide.window
    return spec.input_size if variant.kind == "whole" else None


def input_stems(stem: str, geometry: Geometry) -> list[str]:
    """File stems of a sample's inputs: `<stem>` for one, `<stem>_<k>` per window (as the seeds name them)."""
    if len(geometry.input_hws) == 1:
        return [stem]
    return [f"{stem}_{k}" for k in range(len(geometry.input_hws))]


def make_inputs(spec: ModelSpec, variant: Variant, image: np.ndarray,
                pixels: bool = False) -> tuple[list[np.ndarray], Geometry]:
    """(H, W, 3) uint8 RGB -> the network inputs, float32 (3, h, w) each (`pixels`: uint8 (h, w, 3)
    each, before normalisation and before a letterbox's pad), and their geometry."""
    geometry = geometry_for(spec, variant, image.shape[:2])
    if pixels:
        return _pixel_inputs(variant, image, geometry), geometry
    if variant.kind == "whole":
        inputs = [normalize(image, spec.preprocess)]
    elif variant.kind == "letterbox":
        inputs = [letterbox(image, spec.preprocess, _square(variant))[0]]
    elif variant.kind == "keep-ratio":
        inputs = [normalize(resize_image(image, geometry.resized_hw), spec.preprocess)]
    else:
        assert spec.slide is not None
        windows, layout = split_windows(normalize(image, spec.preprocess), spec.slide.window, spec.slide.stride)
        assert layout.anchors == geometry.anchors, "geometry_for must describe split_windows' windows"
        inputs = list(windows)  # K x (3, ws, ws)
    return inputs, geometry


def input_labels(geometry: Geometry, label: np.ndarray) -> list[np.ndarray]:
    """The (H, W) label as each network input of `geometry` sees it: resized like the image (nearest),
    the letterbox's pad ignored, windows cut from the canvas. Scoring an engine on its own inputs
    against these is a proxy of the metric at label resolution, for callers that run only the
    network (the accuracy-aware int8 fallback's steps)."""
    h, w = geometry.resized_hw
    resized = label if label.shape == (h, w) else cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
    if geometry.kind == "letterbox":
        top, left = geometry.pad_top_left
        canvas = np.full(geometry.input_hws[0], IGNORE_INDEX, dtype=label.dtype)
        canvas[top:top + h, left:left + w] = resized
        return [canvas]
    if geometry.kind == "windows":
        wh, ww = geometry.input_hws[0]
        return [resized[top:top + wh, left:left + ww] for top, left in geometry.anchors]
    return [resized]


def _pixel_inputs(variant: Variant, image: np.ndarray, geometry: Geometry) -> list[np.ndarray]:
    """The uint8 inputs of a folded file: the image, its resize, or its windows (views, not copies)."""
    if variant.kind == "whole":
        return [image]
    if variant.kind in ("letterbox", "keep-ratio"):
        return [resize_image(image, geometry.resized_hw)]
    if geometry.resized_hw != geometry.image_hw:
        h, w = geometry.image_hw
        raise SegdeployError.at(f"{h}x{w} image", "is smaller than a window: the reference upscales the "
                                                  "normalised image, which uint8 pixels cannot carry; use a file "
                                                  "exported without --fold-preprocess")
    ws = geometry.input_hws[0][0]
    return [image[top:top + ws, left:left + ws] for top, left in geometry.anchors]  # K x (ws, ws, 3)


def to_class_map(spec: ModelSpec, geometry: Geometry, outputs: list[np.ndarray], where: str | Path) -> np.ndarray:
    """Network outputs of one image -> (H, W) integer class map at the image's (= label's) resolution.

    Each output is an (h, w) class map or (C, h, w) logits. One output at the image size is taken
    as already post-processed, and a class map there is returned as it is (no copy: the engine's
    int32 map of a folded file goes straight to the file and the metric). `where` names the files
    in errors.
    """
    if len(outputs) == 1 and outputs[0].shape[-2:] == geometry.image_hw:
        return _class_map(outputs[0])
    if geometry.kind == "letterbox":
        box = Letterbox(geometry.image_hw, geometry.resized_hw, geometry.input_hws[0][0], *geometry.pad_top_left)
        return unletterbox_class_map(_class_map(outputs[0]), box)
    logits = _logits(outputs, geometry, where)
    if geometry.kind == "keep-ratio":
        # mmseg resizes the logits (bilinear, align_corners=False) to the original size before argmax.
        return _resize_logits(logits[0], geometry.image_hw).argmax(axis=0)
    if geometry.kind == "windows":
        assert spec.slide is not None
        layout = WindowLayout(geometry.anchors, spec.slide.window, geometry.resized_hw, geometry.image_hw)
        merged = merge_windows(logits, layout)  # (C, H, W): logits averaged over overlaps, no stacked copy
        return merged.argmax(axis=0)
    raise SegdeployError.at(where, f"{geometry.kind} outputs must be {geometry.image_hw[0]}x{geometry.image_hw[1]}")


def _square(variant: Variant) -> int:
    if variant.size is None or variant.size[0] != variant.size[1]:
        raise ValueError(f"variant {variant.name}: a letterbox canvas is square, got size {variant.size}")
    return variant.size[0]


def _class_map(output: np.ndarray) -> np.ndarray:
    return output.argmax(axis=0) if output.ndim == 3 else output


def _logits(outputs: list[np.ndarray], geometry: Geometry, where: str | Path) -> list[np.ndarray]:
    """The outputs as logits of the expected count; class maps cannot be resized or averaged."""
    if len(outputs) != len(geometry.input_hws):
        raise SegdeployError.at(where, f"{len(outputs)} outputs for the {len(geometry.input_hws)} inputs "
                                       f"of variant {geometry.variant}")
    if any(output.ndim != 3 for output in outputs):
        raise SegdeployError.at(where, f"variant {geometry.variant} post-processes logits, got a class map: "
                                       "keep the network's logits (no argmax in the model)")
    return outputs


def _resize_logits(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if logits.shape[1:] == tuple(size):
        return logits
    resized = F.interpolate(torch.from_numpy(np.ascontiguousarray(logits))[None], size=size, mode="bilinear",
                            align_corners=False)  # (1, C, H, W)
    return resized[0].numpy()
