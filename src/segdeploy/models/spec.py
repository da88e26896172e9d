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


# ImageNet's (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) on [0, 1], in 0..255 units.
IMAGENET = Preprocess(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))


@dataclass(frozen=True)
class SlideWindow:
    """Sliding-window inference: square windows of `window` pixels every `stride` pixels."""

    window: int
    stride: int


@dataclass(frozen=True)
class Variant:
    """A named recipe: how an image becomes network input(s) and how outputs map back to its labels.

    Implemented in `segdeploy.data.variants`, one function pair per `kind`:
      whole       the image at its own size; the output is already at label resolution
      letterbox   the FCN guide's: keep-ratio fit into `size` = (H, W), zero-padded centred;
                  the class map is cropped and resized back as the guide's post-process does
      keep-ratio  mmseg's test Resize: fit into `size` = (long, short) sides; logits resized back
      windows     the spec's `slide` windows, one input each; window logits averaged back
    """

    name: str
    kind: Literal["whole", "letterbox", "keep-ratio", "windows"]
    size: tuple[int, int] | None = None


WHOLE = Variant("whole", "whole")


@dataclass(frozen=True)
class CheckpointInfo:
    """The official weights file this model loads unchanged."""

    file_name: str
    sha256: str | None = None
    md5: str | None = None
    source: str = ""


@dataclass(frozen=True)
class TrainRecipe:
    """How `segdeploy train` trains this model unless the command line overrides a value.

    The defaults are the recipe the shipped Fast-SCNN demo checkpoint was trained with; FCN sets
    mmsegmentation's `fcn_r50-d8_512x512_20k_voc12aug` numbers in its spec.
    """

    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = 2e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4
    poly_power: float = 0.9  # lr = (lr - min_lr) * (1 - iter / iters) ** power + min_lr, per iteration
    min_lr: float = 1e-6
    iters: int = 2000
    batch_per_device: int = 8
    train_split: str = "train"  # "a+b" concatenates splits (VOC "train+aug" is mmseg's voc12aug)
    val_split: str = "val"
    val_variant: str | None = None  # preprocessing variant of the evaluations; None: the spec's default
    crop: tuple[int, int] | None = None  # (H, W) random crop; None trains on whole images, unscaled
    # Random rescale before the crop: `scale` = (long, short) sides fitted keeping the aspect ratio
    # and multiplied by a factor drawn from `ratio_range` (mmseg's RandomResize); None scales the
    # image's own size by that factor.
    scale: tuple[int, int] | None = None
    ratio_range: tuple[float, float] = (0.75, 1.5)
    cat_max_ratio: float = 1.0  # re-draw a crop (up to 10 times) while one class fills more than this
    flip: float = 0.5  # probability of a horizontal flip
    photometric: bool = False  # mmseg's PhotoMetricDistortion (brightness, contrast, saturation, hue)
    eval_every: int = 0  # iterations between evaluations on `val_split`; 0: none
    checkpoint_every: int = 500  # iterations between resumable checkpoints


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
    # Preprocessing variants selectable by name (`--variant`); the first is the default.
    variants: tuple[Variant, ...] = (WHOLE,)
    size_divisor: int = 1  # H and W must be multiples of this
    tiny: dict[str, Any] = field(default_factory=dict)  # builder kwargs of the test-size variant
    tiny_input_size: tuple[int, int] = (64, 128)
    aux_loss_weights: tuple[float, ...] = ()  # one per auxiliary output, for training
    train_recipe: TrainRecipe = TrainRecipe()
    # Keys some official files carry that the network never uses (e.g. a classifier `fc`):
    # dropped by name before the strict load, so any other stray key is still an error.
    ignored_checkpoint_keys: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)
