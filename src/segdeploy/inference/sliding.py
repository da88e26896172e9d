"""Sliding-window arithmetic, independent of the engine that runs the windows.

Follows Segmenter's `segm.model.utils` (`resize`, `sliding_window`, `merge_windows`), which equals
mmseg's `slide` mode: per axis of length L, n = ceil((L - ws) / st) + 1 windows at min(i * st, L - ws),
the last one flush with the border. Use: `windows, layout = split_windows(image, ws, st)`, run any
engine on `windows` in batches, then `merge_windows(logits, layout, (H, W))`.

The functions take torch tensors or numpy arrays and return the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

Array = torch.Tensor | np.ndarray


@dataclass(frozen=True)
class WindowLayout:
    """Where each window sits on the canvas the windows were cut from."""

    anchors: tuple[tuple[int, int], ...]  # (top, left) per window, row-major: all x for the first y first
    window: int
    canvas: tuple[int, int]  # (H, W) after the upscale rule; the merge happens at this size
    image_size: tuple[int, int]  # (H, W) of the image given to split_windows; merge's default output


def window_anchors(length: int, window: int, stride: int) -> list[int]:
    """Multiples of `stride` strictly below `length - window`, then `length - window` itself."""
    if length < window:
        raise ValueError(f"axis of {length} px is shorter than the {window} px window; upscale it first")
    last = length - window
    return list(range(0, last, stride)) + [last]


def upscaled_size(height: int, width: int, window: int) -> tuple[int, int]:
    """The reference's resize rule: if the shorter side is below `window`, it becomes `window`.

    The other side becomes int(long / short * window), truncated. Images are never downscaled.
    """
    if min(height, width) >= window:
        return height, width
    if height < width:
        return window, int(width / height * window)
    return int(height / width * window), window


def split_windows(image: Array, window: int, stride: int) -> tuple[Array, WindowLayout]:
    """One normalised image, (1, 3, H, W) or (3, H, W) -> (K, 3, window, window) crops and their layout."""
    x = _to_tensor(image)
    x = x[None] if x.dim() == 3 else x
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one image shaped (1, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    image_size = (x.shape[2], x.shape[3])
    canvas = upscaled_size(*image_size, window)
    if canvas != image_size:
        x = F.interpolate(x, size=canvas, mode="bilinear", align_corners=False)
    anchors = tuple(
        (top, left)
        for top in window_anchors(canvas[0], window, stride)
        for left in window_anchors(canvas[1], window, stride)
    )
    crops = torch.cat([x[:, :, top : top + window, left : left + window] for top, left in anchors])
    # crops: (K, C, ws, ws)
    return _like(crops, image), WindowLayout(anchors, window, canvas, image_size)


def merge_windows(logits: Array | list[Array], layout: WindowLayout, out_size: tuple[int, int] | None = None) -> Array:
    """(K, C, ws, ws) window logits (or K (C, ws, ws) arrays, not stacked: no copy) -> (C, H, W) logits
    at `out_size` (default: the split image's size).

    Overlaps are a uniform average of logits (a per-pixel count map). When the canvas was upscaled,
    the average is resized back bilinearly (align_corners=False). The reference then applies a
    softmax; that changes nothing for argmax and matters only when averaging several TTA copies.
    """
    windows = [_to_tensor(w) for w in logits]
    ws = layout.window
    if len(windows) != len(layout.anchors) or any(tuple(w.shape[1:]) != (ws, ws) for w in windows):
        got = [tuple(w.shape) for w in windows]
        raise ValueError(f"expected {len(layout.anchors)} (C, {ws}, {ws}) window logits, got {got}")
    total = windows[0].new_zeros((windows[0].shape[0], *layout.canvas))  # (C, Hc, Wc)
    count = windows[0].new_zeros((1, *layout.canvas))  # (1, Hc, Wc)
    for window_logits, (top, left) in zip(windows, layout.anchors):
        total[:, top : top + ws, left : left + ws] += window_logits
        count[:, top : top + ws, left : left + ws] += 1
    merged = total / count
    out_size = layout.image_size if out_size is None else tuple(out_size)
    if layout.canvas != out_size:
        merged = F.interpolate(merged[None], size=out_size, mode="bilinear", align_corners=False)[0]
    return _like(merged, logits[0] if isinstance(logits, list) else logits)


def _to_tensor(a: Array) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a


def _like(t: torch.Tensor, reference: Array) -> Array:
    return t.numpy() if isinstance(reference, np.ndarray) else t
