"""`ModelSpec`: everything segdeploy knows about one deployable model, beside its builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from torch import nn


@dataclass(frozen=True)
class Preprocess:
    """How an RGB uint8 image becomes the network input.

    mean/std are in 0..255 pixel units (mmsegmentation's convention), so ImageNet's
    (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) on [0, 1] become 123.675... / 58.395...
    """

    mean: tuple[float, float, float]  # RGB order
    std: tuple[float, float, float]
    bgr: bool = False  # feed channels as B, G, R (caffe-converted weights) after normalising


@dataclass(frozen=True)
class SlideWindow:
    """Sliding-window inference: square windows of `window` pixels every `stride` pixels."""

    window: int
    stride: int


@dataclass(frozen=True)
class CheckpointInfo:
    """The official weights file this model loads unchanged."""

    file_name: str
    sha256: str | None = None
    md5: str | None = None
    source: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """One entry of `segdeploy.models.MODELS`.

    Contract of the module `build(**tiny)` returns: in eval mode `forward(x)` maps a float32
    (N, 3, H, W) tensor to logits (N, num_classes, H, W); in training mode it returns
    `(logits, [aux_logits, ...])`: logits at input resolution, auxiliary logits at the resolution
    the reference computes their loss at (the trainer upsamples them to the labels).
    """

    name: str
    build: Callable[..., nn.Module]
    dataset: Literal["cityscapes", "voc"]
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    input_size: tuple[int, int]  # (H, W) the model is evaluated at
    preprocess: Preprocess
    manifest: str  # file name under segdeploy/models/manifests/
    checkpoint: CheckpointInfo
    reference_metrics: dict[str, float] = field(default_factory=dict)  # percent, from the guides
    slide: SlideWindow | None = None  # None: whole-image inference
    size_divisor: int = 1  # H and W must be multiples of this
    tiny: dict[str, Any] = field(default_factory=dict)  # builder kwargs of the test-size variant
    tiny_input_size: tuple[int, int] = (64, 128)
    aux_loss_weights: tuple[float, ...] = ()  # one per auxiliary output, for training
    # Keys some official files carry that the network never uses (e.g. a classifier `fc`):
    # dropped by name before the strict load, so any other stray key is still an error.
    ignored_checkpoint_keys: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)
