"""Preprocessing and the argmax folded into the deployed graph (`export --fold-preprocess / --fold-argmax`).

The network is wrapped, never changed: `FoldedNetwork` holds it as a submodule (the same official
weights) and adds, before it, uint8 (N, H, W, 3) RGB pixels -> float32 (N, 3, H, W) with the spec's
mean/std (and BGR order) — the same float32 operations as `transforms.normalize`, so the network
sees bit-identical inputs — and, after it, the argmax as an int32 (N, 1, H, W) class map (the FCN
guide's deployed model returns INT32 1x1x500x500). What each variant kind can fold:

    whole       preprocess and argmax: the output is the class map at label resolution
    letterbox   preprocess including the centred zero pad (0 after normalising: no uint8 value is),
                so the input is the resized image, any size up to the canvas; and argmax (the
                guide's crop and resize back work on the class map)
    keep-ratio  preprocess only (height and width dynamic): mmseg resizes the logits to the image
                size before its argmax, and that size is not in the graph
    windows     preprocess only (uint8 windows): overlapping windows' logits are averaged first
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

from segdeploy.data.transforms import keep_ratio_size
from segdeploy.data.variants import get_variant
from segdeploy.errors import SegdeployError
from segdeploy.export.onnx_export import default_input_hw, export_onnx
from segdeploy.models import build_model
from segdeploy.models.spec import ModelSpec, Preprocess, Variant
from segdeploy.reporting.atomic import write_bytes_atomic
from segdeploy.runtime.engine_io import PAD_TO_KEY, EngineIO
from segdeploy.runtime.onnxruntime_backend import OnnxRuntimeBackend
from segdeploy.verify.criteria import DEFAULT_MIN_AGREEMENT

MAX_DYNAMIC_SIDE = 4096  # keep-ratio inputs: mmseg's 2048x512 scale never exceeds it

_LOGITS_ONLY = {"keep-ratio": "resizes the logits to the image size before the argmax",
                "windows": "averages overlapping windows' logits before the argmax"}


@dataclass(frozen=True)
class FoldParity:
    """A folded file in ONNX Runtime vs the same wrapper in eager PyTorch, on one random input.

    (A folded file takes uint8 pixels or returns class maps, so `verify_engine`, which feeds the
    network float inputs and compares logits, does not run it; this is its own small check.)
    """

    max_abs_diff: float  # NaN for class maps
    argmax_agreement: float  # fraction of pixels whose class is the same
    input_shape: tuple[int, ...]
    nonfinite: int = 0  # NaN / inf logits on either side: never a pass (NaN "agrees" through argmax)

    @property
    def passed(self) -> bool:
        return self.nonfinite == 0 and self.argmax_agreement >= DEFAULT_MIN_AGREEMENT


@dataclass(frozen=True)
class FoldPlan:
    """What the folded graph does around the network for one variant."""

    variant: str
    preprocess: bool
    argmax: bool
    pad_to: int | None = None  # letterbox: the graph pads its input centred onto this square canvas
    dynamic_hw: bool = False  # the input's height and width vary per image

    @property
    def io(self) -> EngineIO:
        return EngineIO(pixels=self.preprocess, class_map=self.argmax, pad_to=self.pad_to)


def plan_fold(spec: ModelSpec, variant: Variant, preprocess: bool, argmax: bool) -> FoldPlan:
    """The fold for `variant`, or a one-line error naming what cannot be folded and why."""
    if not (preprocess or argmax):
        raise SegdeployError.at("--fold-preprocess", "nothing to fold: pass --fold-preprocess and/or --fold-argmax")
    if argmax and variant.kind in _LOGITS_ONLY:
        raise SegdeployError.at("--fold-argmax", f"{spec.name} variant {variant.name} {_LOGITS_ONLY[variant.kind]}: "
                                                 "its engine must return logits (fold the preprocessing only)")
    letterbox = preprocess and variant.kind == "letterbox"
    return FoldPlan(variant.name, preprocess, argmax, pad_to=variant.size[0] if letterbox else None,
                    dynamic_hw=letterbox or (preprocess and variant.kind == "keep-ratio"))


class FoldedNetwork(nn.Module):
    """`network` with the preprocessing in front (uint8 pixels in) and/or the argmax behind (class map out)."""

    def __init__(self, network: nn.Module, preprocess: Preprocess | None, pad_to: int | None = None,
                 argmax: bool = False) -> None:
        super().__init__()
        self.network = network
        self.normalise = preprocess is not None
        self.bgr = bool(preprocess and preprocess.bgr)
        self.pad_to = pad_to
        self.argmax = argmax
        if preprocess is not None:  # not persistent: the state dict stays the network's official one
            self.register_buffer("mean", torch.tensor(preprocess.mean, dtype=torch.float32).view(1, 3, 1, 1),
                                 persistent=False)
            self.register_buffer("std", torch.tensor(preprocess.std, dtype=torch.float32).view(1, 3, 1, 1),
                                 persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalise:
            x = (x.permute(0, 3, 1, 2).float() - self.mean) / self.std  # (N, 3, H, W) RGB
            # contiguous: a channels-last view would make the convolutions pick other kernels
            x = (x.flip(1) if self.bgr else x).contiguous()
        if self.pad_to is not None:
            h, w = x.shape[2], x.shape[3]
            top, left = (self.pad_to - h) // 2, (self.pad_to - w) // 2  # the extra row/column goes bottom/right
            x = F.pad(x, (left, self.pad_to - w - left, top, self.pad_to - h - top))  # (N, 3, canvas, canvas)
        y = self.network(x)  # (N, C, H, W) logits
        return y.argmax(1, keepdim=True).to(torch.int32) if self.argmax else y


def fold_network(network: nn.Module, spec: ModelSpec, plan: FoldPlan) -> FoldedNetwork:
    return FoldedNetwork(network.eval(), spec.preprocess if plan.preprocess else None, plan.pad_to, plan.argmax)


def example_hw(spec: ModelSpec, variant: Variant, plan: FoldPlan, input_hw: tuple[int, int] | None,
               tiny: bool = False) -> tuple[int, int]:
    """The traced input size: given, else a VOC-shaped image's for the per-image sizes of letterbox
    (its resized 375x500) and keep-ratio (683x512), else the model's export default."""
    if input_hw is not None:
        return input_hw
    if plan.pad_to is not None:
        return plan.pad_to * 3 // 4, plan.pad_to
    if variant.kind == "letterbox":
        return variant.size
    if plan.dynamic_hw:
        return keep_ratio_size((375, 500), variant.size)
    return default_input_hw(spec, tiny)


def random_input(plan: FoldPlan, batch: int, hw: tuple[int, int], seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(plan.io.random_batch(batch, hw, rng))


def export_folded(spec: ModelSpec, out: str | Path, variant: str | None, preprocess: bool, argmax: bool,
                  checkpoint: str | Path | None = None, trust: bool = False, batch: int = 1,
                  dynamic_batch: bool = False, input_hw: tuple[int, int] | None = None, simplify: bool = False,
                  tiny: bool = False) -> tuple[Path, FoldParity, FoldPlan]:
    """`segdeploy export` with folding: wrap, export, record the canvas, prove the file in ONNX Runtime."""
    if batch < 1:
        raise SegdeployError.at("--batch", f"must be at least 1, got {batch}")
    chosen = get_variant(spec, variant)
    plan = plan_fold(spec, chosen, preprocess, argmax)
    if plan.dynamic_hw and input_hw is not None:
        raise SegdeployError.at("--input-size", f"variant {chosen.name} with --fold-preprocess takes each image's "
                                                "own resized size (height and width are dynamic)")
    folded = fold_network(build_model(spec, checkpoint, trust, tiny=tiny), spec, plan)
    hw = example_hw(spec, chosen, plan, input_hw, tiny)
    path = export_folded_network(folded, plan, out, hw, batch, dynamic_batch, simplify)
    # a dynamic file must also run at a batch and (portrait) size it was not traced at
    check_hw = (hw[1], hw[0]) if plan.dynamic_hw else hw
    parity = check_folded_parity(folded, path, random_input(plan, 2 if dynamic_batch else batch, check_hw, seed=1))
    return path, parity, plan


def export_folded_network(folded: FoldedNetwork, plan: FoldPlan, out: str | Path, hw: tuple[int, int],
                          batch: int = 1, dynamic_batch: bool = False, simplify: bool = False) -> Path:
    """Export a wrapped network traced at `hw` (dynamic height and width where the plan needs them)
    and record its canvas in the file's metadata."""
    example = random_input(plan, batch, hw)
    side = plan.pad_to or MAX_DYNAMIC_SIDE
    height, width = (1, 2) if plan.preprocess else (2, 3)  # NHWC pixels, or NCHW floats
    dims = ({height: torch.export.Dim("height", min=2, max=side), width: torch.export.Dim("width", min=2, max=side)}
            if plan.dynamic_hw else None)
    path = export_onnx(folded, out, tuple(example.shape), dynamic_batch=dynamic_batch, simplify=simplify,
                       example=example, dynamic_dims=dims)
    if plan.pad_to is not None:
        _set_metadata(path, {PAD_TO_KEY: str(plan.pad_to)})
    return path


def _set_metadata(path: Path, props: dict[str, str]) -> None:
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, **props})
    write_bytes_atomic(path, model.SerializeToString())


def check_folded_parity(folded: FoldedNetwork, onnx_path: str | Path, x: torch.Tensor) -> FoldParity:
    """ONNX Runtime vs the same wrapper in eager PyTorch on `x`; class maps compare by agreement only."""
    with torch.inference_mode():
        expected = folded.eval()(x).numpy()
    got = OnnxRuntimeBackend(onnx_path)(x.numpy())
    if got.shape != expected.shape:
        raise SegdeployError.at(onnx_path, f"output shape {got.shape} differs from PyTorch's {expected.shape}")
    if folded.argmax:
        return FoldParity(float("nan"), float(np.mean(got == expected)), tuple(x.shape))
    agreement = float(np.mean(got.argmax(1) == expected.argmax(1)))
    nonfinite = int((~np.isfinite(got)).sum() + (~np.isfinite(expected)).sum())
    return FoldParity(float(np.abs(got - expected).max()), agreement, tuple(x.shape), nonfinite)
