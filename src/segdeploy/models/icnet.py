"""ICNet with a dilated ResNet-50 "v1s" backbone (liminn/ICNet-pytorch), Cityscapes.

Spec: specs/icnet.md. Three branches share one backbone: sub1 (three strided convs on the full
image, 1/8), sub2 (layer2 of the backbone on the 1/2 image, 1/16) and sub4 (the whole backbone on the
1/4 image, 1/32, plus parameter-free pyramid pooling); two cascade feature fusion units merge them.
Every resize is bilinear with align_corners=True, as in the reference.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from segdeploy.data.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from segdeploy.layers.conv import ConvBNReLU
from segdeploy.layers.resnet import DilatedResNet, v1c_stem
from segdeploy.models.spec import IMAGENET, CheckpointInfo, ModelSpec


def v1s_stem(channels: int) -> dict[str, nn.Module]:
    """GluonCV "v1s" deep stem: the V1c stem's three 3x3 convs (3 -> c/2 -> c/2 -> c) with BN and ReLU.

    NOTE: the last conv's BN is the backbone's `bn1`, outside the `conv1` Sequential, because the
    checkpoint names it so (the torchvision `conv1`/`bn1` slots, with `conv1` grown into three convs).
    """
    conv1 = nn.Sequential(*list(v1c_stem(channels))[:7])  # up to the third conv; its BN becomes bn1
    return {"conv1": conv1, "bn1": nn.BatchNorm2d(channels), "relu": nn.ReLU(inplace=True)}


def pyramid_pool_sum(feature: Tensor, bins: tuple[int, ...]) -> Tensor:
    """ICNet's parameter-free PPM: feature + sum over bins of upsampled adaptive average pools.

    NOTE: plain adaptive pooling, not the Ascend port's fixed avg_pool2d substitute (specs/icnet.md §7),
    which is inexact when the map size is not a multiple of the bin count; torch 2.13's dynamo ONNX
    exporter exports adaptive pooling exactly at a fixed input size.
    """
    size = feature.shape[-2:]
    out = feature
    for b in bins:  # summed in this order, as the reference does, to stay bit-exact
        pooled = F.adaptive_avg_pool2d(feature, b)  # (N, C, b, b)
        out = out + F.interpolate(pooled, size=size, mode="bilinear", align_corners=True)
    return out


class CascadeFeatureFusion(nn.Module):
    """Fuses a coarse `low` map into a 2x finer `high` map; `conv_low_cls` gives its training logits."""

    def __init__(self, low_channels: int, high_channels: int, out_channels: int, num_classes: int):
        super().__init__()
        self.conv_low = nn.Sequential(
            nn.Conv2d(low_channels, out_channels, 3, padding=2, dilation=2, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.conv_high = nn.Sequential(
            nn.Conv2d(high_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.conv_low_cls = nn.Conv2d(out_channels, num_classes, 1, bias=False)

    def forward(self, low: Tensor, high: Tensor) -> tuple[Tensor, Tensor | None]:
        low = F.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=True)
        low = self.conv_low(low)
        fused = F.relu(low + self.conv_high(high))
        # The auxiliary classifier reads the low branch before the sum; eval never needs it.
        return fused, (self.conv_low_cls(low) if self.training else None)


class ICHead(nn.Module):
    """cff_24 (sub4 into sub2) -> cff_12 (into sub1) -> x2 upsample -> 1x1 classifier: 1/4 logits."""

    def __init__(self, sub1_channels: int, sub2_channels: int, sub4_channels: int, channels: int,
                 num_classes: int):
        super().__init__()
        # NOTE: created 12-then-24 to match the checkpoint order, although cff_24 runs first.
        self.cff_12 = CascadeFeatureFusion(channels, sub1_channels, channels, num_classes)
        self.cff_24 = CascadeFeatureFusion(sub4_channels, sub2_channels, channels, num_classes)
        self.conv_cls = nn.Conv2d(channels, num_classes, 1, bias=False)

    def forward(self, sub1: Tensor, sub2: Tensor, sub4: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Returns the 1/4 logits and, in training, the auxiliary logits [1/8, 1/16]."""
        fused_24, aux_16 = self.cff_24(sub4, sub2)  # (N, channels, H/16, W/16)
        fused_12, aux_8 = self.cff_12(fused_24, sub1)  # (N, channels, H/8, W/8)
        up = F.interpolate(fused_12, scale_factor=2, mode="bilinear", align_corners=True)  # H/4, W/4
        # Upsample before classifying, as the reference does (they commute only up to rounding).
        logits_4 = self.conv_cls(up)
        return logits_4, ([aux_8, aux_16] if self.training else [])


class ICNet(nn.Module):
    """Eval: `forward(x)` returns the full-resolution logits (N, C, H, W), the reference's outputs[0].

    Training: `(logits, [aux_8, aux_16])`, the cff_12 and cff_24 logits at H/8 and H/16 — NOT resized:
    the reference loss scores them against labels resized down to their size. The reference's main
    loss term (weight 1) is on the 1/4 logits; `logits` is exactly their bilinear x4 upsampling, so
    the trainer's main loss on `logits` stands in for it. H and W must be multiples of 32.
    """

    def __init__(self, pretrained: DilatedResNet, conv_sub1: nn.Sequential, head: ICHead,
                 pool_bins: tuple[int, ...]):
        super().__init__()
        # NOTE: `pretrained` is liminn's name for the backbone (its SegBaseModel attribute).
        self.pretrained = pretrained
        self.conv_sub1 = conv_sub1
        self.head = head
        self.pool_bins = pool_bins

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, list[Tensor]]:
        sub1 = self.conv_sub1(x)  # (N, c1, H/8, W/8)
        x2 = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=True)  # (N, 3, H/2, W/2)
        # Only layer2 of the half image is used. The reference also runs layer3/4 on it and discards
        # them: in eval that is wasted work, but in training it feeds those stages' BN running stats
        # (and num_batches_tracked), so training keeps it to reproduce the checkpoint's statistics.
        sub2 = self.pretrained(x2, num_stages=4 if self.training else 2)[1]  # (N, c2, H/16, W/16)
        x4 = F.interpolate(x, scale_factor=0.25, mode="bilinear", align_corners=True)  # (N, 3, H/4, W/4)
        sub4 = pyramid_pool_sum(self.pretrained(x4)[3], self.pool_bins)  # (N, c4, H/32, W/32)
        logits_4, aux = self.head(sub1, sub2, sub4)
        # size= equals the reference's x4 scale factor for valid sizes and keeps N x C x H x W otherwise.
        logits = F.interpolate(logits_4, size=x.shape[-2:], mode="bilinear", align_corners=True)
        return (logits, aux) if self.training else logits


def icnet_r50(
    num_classes: int = 19,
    depth_blocks: tuple[int, int, int, int] = (3, 4, 6, 3),
    stem_channels: int = 128,
    base_width: int = 64,
    sub1_channels: tuple[int, int, int] = (32, 32, 64),
    head_channels: int = 128,
    pool_bins: tuple[int, ...] = (1, 2, 3, 6),
) -> ICNet:
    """ICNet-R50; the defaults are the checkpoint's numbers, smaller ones give test-size variants."""
    backbone = DilatedResNet(
        stem=v1s_stem(stem_channels),
        stem_channels=stem_channels,
        depth_blocks=depth_blocks,
        base_width=base_width,
        strides=(1, 2, 1, 1),
        # Output stride 8; the first block of layer3/layer4 uses half the stage's dilation.
        first_dilations=(1, 1, 1, 2),
        dilations=(1, 1, 2, 4),
    )
    c1a, c1b, c1 = sub1_channels
    # Three stride-2 3x3 conv-BN-ReLU (liminn's `_ConvBNReLU`, `.conv`/`.bn` keys): image -> 1/8.
    conv_sub1 = nn.Sequential(
        ConvBNReLU(3, c1a, 3, stride=2, padding=1),
        ConvBNReLU(c1a, c1b, 3, stride=2, padding=1),
        ConvBNReLU(c1b, c1, 3, stride=2, padding=1),
    )
    _, c2, _, c4 = backbone.out_channels
    head = ICHead(c1, c2, c4, head_channels, num_classes)
    return ICNet(backbone, conv_sub1, head, pool_bins).eval()


ICNET_R50_CITYSCAPES = ModelSpec(
    name="icnet_r50_cityscapes",
    build=icnet_r50,
    dataset="cityscapes",
    classes=CITYSCAPES_CLASSES,
    palette=CITYSCAPES_PALETTE,
    input_size=(1024, 2048),
    preprocess=IMAGENET,
    manifest="icnet_r50_cityscapes.json",
    checkpoint=CheckpointInfo(
        file_name="rankid0_icnet_resnet50_192_0.687_best_model.pth",
        md5="bf3a0da8c3e11dfba4fac3b98f9a6874",
        source="Ascend ModelZoo ACL_PyTorch/contrib/cv/segmentation/ICNet "
        "(trained with liminn/ICNet-pytorch @ da394fc)",
    ),
    # Ascend OM on 310P; the reference metric is a mean of running mIoUs (specs/icnet.md §9).
    reference_metrics={"mIoU": 68.9},
    size_divisor=32,
    tiny=dict(depth_blocks=(1, 1, 1, 1), stem_channels=16, base_width=8, sub1_channels=(8, 8, 16),
              head_channels=16),
    aux_loss_weights=(0.4, 0.4),  # cff_12 (1/8) and cff_24 (1/16), as in liminn's ICNetLoss
    # liminn's own release (icnet_resnet50_197_0.710_best_model.pth) also stores the backbone's
    # ImageNet classifier, which segmentation never calls; the Ascend checkpoint lacks it.
    ignored_checkpoint_keys=("pretrained.fc.weight", "pretrained.fc.bias"),
)
